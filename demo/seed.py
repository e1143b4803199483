"""Demo data for ``rural24 seed --ads N [--seed S]``: sellers and ads that read like the real thing.

Speed: rows are generated in Python and sent with PostgreSQL's COPY protocol over one raw asyncpg
connection, :data:`BATCH_SIZE` rows per COPY (each COPY is its own transaction, so a long run
keeps what it has written if interrupted). The COPY of one batch overlaps with the generation of
the next.

Determinism: every value comes from ``random.Random`` streams derived from the seed, ids included
(UUIDv7 layout, timestamp taken from the row's ``created_at`` so ids stay time-ordered). The time
window is anchored at today's midnight UTC, so the same seed on the same day produces the same
rows (argon2 salts the password hash, the one exception): a re-run finds them and skips them. On
another day the window moves with the calendar (demo ads should look fresh), the ids change with
it and the same seed adds a fresh set.

Sellers are ``demo1@rural24.test`` … ``demoN@rural24.test`` whatever the seed, all with the
password :data:`DEMO_PASSWORD`. The email is their identity: a run that finds ``demo7`` already
there reuses that account for its ads instead of creating another one.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, NamedTuple

import asyncpg
import msgspec
from argon2 import PasswordHasher
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

from domain.catalog.reference import PROVINCES, ReferenceCategory, leaf_categories
from infrastructure.database.urls import asyncpg_dsn

DEMO_PASSWORD = "rural24-demo"  # noqa: S105  # public on purpose: the demo login
DEMO_EMAIL_DOMAIN = "rural24.test"
BATCH_SIZE = 5_000
AD_TTL = timedelta(days=30)
WINDOW_DAYS = 60
PROGRESS_MIN_ROWS = 10_000
"""Shorter runs finish before a progress bar would be worth drawing."""

# Only to keep prices in pesos and in dollars of the same order; not a quote.
ARS_PER_USD = 1_400

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DAY_MS = 86_400_000
_HOUR_MS = 3_600_000

USER_COLUMNS = ("id", "email", "password_hash", "name", "phone", "province_code", "role", "created_at", "updated_at")
AD_COLUMNS = (
    "id",
    "owner_id",
    "category_id",
    "title",
    "description",
    "price",
    "currency",
    "province_code",
    "locality",
    "condition",
    "status",
    "is_featured",
    "expires_at",
    "deleted_at",
    "suspended_at",
    "revision",
    "created_at",
    "updated_at",
)


class SeedReport(msgspec.Struct, frozen=True, kw_only=True):
    users_created: int
    ads_created: int
    seconds: float
    users_existing: int = 0
    """Demo sellers already in the database (reused, not recreated)."""
    ads_existing: int = 0
    """Ads of this seed already in the database (an earlier run today): skipped."""


# --------------------------------------------------------------------------------------------
# Places and people


def _names(text: str) -> tuple[str, ...]:
    """``"Azul, Junín"`` → ``("Azul", "Junín")``: long word lists stay readable and compact."""
    return tuple(name.strip() for name in text.split(","))


class Place(NamedTuple):
    province_code: str
    province_name: str
    locality: str


# A few towns per province, rural ones where there are any: the seed's ads are about farming.
LOCALITIES: dict[str, tuple[str, ...]] = {
    "caba": _names("Palermo, Belgrano, Caballito, Villa Urquiza, Liniers, Mataderos"),
    "buenos-aires": _names(
        "Pergamino, Junín, Tandil, Azul, Olavarría, Tres Arroyos, Bahía Blanca, 9 de Julio, "
        "Trenque Lauquen, Balcarce, Chascomús, San Antonio de Areco, Bragado, Lincoln, Salto, Coronel Suárez"
    ),
    "catamarca": _names("San Fernando del Valle de Catamarca, Belén, Tinogasta, Santa María, Andalgalá"),
    "chaco": _names("Resistencia, Presidencia Roque Sáenz Peña, Charata, Villa Ángela, General Pinedo"),
    "chubut": _names("Trelew, Rawson, Esquel, Puerto Madryn, Gaiman, Sarmiento"),
    "cordoba": _names(
        "Río Cuarto, Marcos Juárez, Villa María, San Francisco, Laboulaye, "
        "Jesús María, Bell Ville, Río Tercero, Oncativo, Huinca Renancó"
    ),
    "corrientes": _names("Corrientes, Goya, Mercedes, Curuzú Cuatiá, Paso de los Libres, Santo Tomé"),
    "entre-rios": _names("Paraná, Gualeguaychú, Concordia, Victoria, Nogoyá, Villaguay, Crespo"),
    "formosa": _names("Formosa, Clorinda, Pirané, El Colorado, Las Lomitas"),
    "jujuy": _names("San Salvador de Jujuy, Perico, San Pedro de Jujuy, Libertador General San Martín"),
    "la-pampa": _names("Santa Rosa, General Pico, General Acha, Realicó, Eduardo Castex, Intendente Alvear"),
    "la-rioja": _names("La Rioja, Chilecito, Chamical, Aimogasta, Chepes"),
    "mendoza": _names("San Rafael, Tunuyán, General Alvear, Maipú, Luján de Cuyo, San Martín, Malargüe"),
    "misiones": _names("Posadas, Oberá, Eldorado, Apóstoles, Leandro N. Alem, Aristóbulo del Valle"),
    "neuquen": _names("Neuquén, Zapala, Centenario, Plottier, Chos Malal, Junín de los Andes"),
    "rio-negro": _names("General Roca, Cipolletti, Villa Regina, Viedma, Choele Choel, Allen"),
    "salta": _names("Salta, Orán, Tartagal, Metán, Rosario de la Frontera, Cafayate"),
    "san-juan": _names("San Juan, Caucete, Pocito, Jáchal, Albardón"),
    "san-luis": _names("San Luis, Villa Mercedes, Justo Daract, Buena Esperanza, Tilisarao"),
    "santa-cruz": _names("Río Gallegos, Caleta Olivia, Puerto San Julián, Gobernador Gregores, El Calafate"),
    "santa-fe": _names(
        "Rosario, Rafaela, Venado Tuerto, Reconquista, Esperanza, Casilda, Firmat, Santa Fe, Cañada de Gómez"
    ),
    "santiago-del-estero": _names("Santiago del Estero, La Banda, Quimilí, Añatuya, Monte Quemado"),
    "tierra-del-fuego": _names("Río Grande, Ushuaia, Tolhuin"),
    "tucuman": _names("San Miguel de Tucumán, Concepción, Monteros, Famaillá, Aguilares, Simoca"),
}

# Where the ads are: the Pampas dominate rural classifieds.
PROVINCE_WEIGHTS: dict[str, int] = {
    "buenos-aires": 28,
    "cordoba": 16,
    "santa-fe": 14,
    "entre-rios": 7,
    "la-pampa": 5,
    "santiago-del-estero": 3,
    "chaco": 3,
    "corrientes": 3,
    "salta": 2,
    "tucuman": 2,
    "san-luis": 2,
    "mendoza": 2,
    "rio-negro": 2,
    "misiones": 2,
    "caba": 2,
    "neuquen": 1,
    "chubut": 1,
    "santa-cruz": 1,
    "formosa": 1,
    "jujuy": 1,
    "catamarca": 1,
    "la-rioja": 1,
    "san-juan": 1,
    "tierra-del-fuego": 1,
}

# Mobile numbers: +54 9, then the area code of the province's main city and the local number
# (area code and local number always add up to ten digits).
AREA_CODES: dict[str, str] = {
    "caba": "11",
    "buenos-aires": "2477",
    "catamarca": "383",
    "chaco": "362",
    "chubut": "280",
    "cordoba": "351",
    "corrientes": "379",
    "entre-rios": "343",
    "formosa": "370",
    "jujuy": "388",
    "la-pampa": "2954",
    "la-rioja": "380",
    "mendoza": "261",
    "misiones": "376",
    "neuquen": "299",
    "rio-negro": "298",
    "salta": "387",
    "san-juan": "264",
    "san-luis": "266",
    "santa-cruz": "2966",
    "santa-fe": "341",
    "santiago-del-estero": "385",
    "tierra-del-fuego": "2964",
    "tucuman": "381",
}

FIRST_NAMES = _names(
    "Juan, Martín, Carlos, Jorge, Luis, Diego, Pablo, Sebastián, Gustavo, Marcelo, Hernán, Facundo, "
    "Ramiro, Gonzalo, Nicolás, Matías, Alejandro, Ricardo, Roberto, Héctor, Raúl, Osvaldo, Ezequiel, "
    "Agustín, Joaquín, Santiago, Tomás, Federico, María, Ana, Laura, Silvia, Claudia, Mariana, Carolina, "
    "Florencia, Valeria, Gabriela, Natalia, Lucía, Sofía, Paula, Verónica, Romina, Soledad, Graciela, "
    "Norma, Inés, María José, Juan Pablo, Juan Cruz"
)

LAST_NAMES = _names(
    "González, Rodríguez, Gómez, Fernández, López, Díaz, Martínez, Pérez, García, Sánchez, Romero, Sosa, "
    "Torres, Álvarez, Ruiz, Ramírez, Flores, Benítez, Acosta, Medina, Herrera, Suárez, Aguirre, Giménez, "
    "Gutiérrez, Pereyra, Rojas, Molina, Castro, Ortiz, Núñez, Luna, Juárez, Cabrera, Ferreyra, Godoy, "
    "Peralta, Carrizo, Quiroga, Ledesma, Ojeda, Cardozo, Villalba, Figueroa, Bianchi, Rossi, Ferrari, "
    "Lombardi, Marchetti, Bernasconi, Fontana, Rinaldi, Zanetti, Etcheverry, Echeverría, Iriarte, "
    "Larrañaga, Goyeneche, Arrieta, Schmidt, Weber, Kraus, Müller, Duggan, Kelly, O'Connor"
)

# Breeders and farms sell too; a share of the sellers are businesses.
ESTANCIA_NAMES = _names(
    "La Esperanza, El Ombú, La Aurora, Don Tomás, Los Álamos, La Carolina, El Rosario, Santa Inés, "
    "La Querencia, Los Talas, San Pedro, La Paz"
)
BUSINESS_PATTERNS = (
    "Agropecuaria {last} S.A.",
    "{last} Hnos.",
    "Establecimiento {estancia}",
    "Cabaña {estancia}",
    "Estancia {estancia}",
    "Maquinarias {last}",
    "Agroservicios {last} S.R.L.",
)


# --------------------------------------------------------------------------------------------
# Listings: title, description, price per category


class Listing(NamedTuple):
    title: str
    description: str
    price: int | None
    currency: str
    condition: str | None


ListingMaker = Callable[[random.Random, Place, int], Listing]
"""``(rng, place, current_year) -> Listing`` for one leaf category."""


def _n(value: int) -> str:
    """Argentine thousands separator: ``4500`` → ``"4.500"``."""
    return f"{value:,}".replace(",", ".")


def _round_price(value: float) -> int:
    """Sellers post round numbers: keep three significant digits (95.432 → 95.400)."""
    if value < 100:
        return max(1, round(value))
    step = int(10 ** (int(math.log10(value)) - 2))
    return round(value / step) * step


def _price(rng: random.Random, usd: float, *, usd_share: float, on_request: float = 0.06) -> tuple[int | None, str]:
    """A price worth about ``usd`` dollars, in dollars or pesos, or ``None`` ("a convenir")."""
    currency = "USD" if rng.random() < usd_share else "ARS"
    if rng.random() < on_request:
        return None, currency
    amount = usd if currency == "USD" else usd * ARS_PER_USD
    return _round_price(amount * rng.uniform(0.9, 1.1)), currency


def _ars(rng: random.Random, ars: float, *, on_request: float = 0.08) -> tuple[int | None, str]:
    if rng.random() < on_request:
        return None, "ARS"
    return _round_price(ars * rng.uniform(0.9, 1.1)), "ARS"


def _pick(rng: random.Random, options: Sequence[str], low: int, high: int) -> list[str]:
    return rng.sample(options, rng.randint(low, min(high, len(options))))


def _where(rng: random.Random, place: Place) -> str:
    return rng.choice(
        (
            f"Ubicado en {place.locality}, {place.province_name}.",
            f"Se encuentra en {place.locality} ({place.province_name}).",
            f"Lo podés ver en {place.locality}, {place.province_name}.",
            f"Zona {place.locality}, {place.province_name}.",
        )
    )


_CONTACT = (
    "Consultas por mensaje o WhatsApp.",
    "Tratar con el dueño.",
    "Atiendo de lunes a sábado.",
    "Consultas solo por mensaje.",
    "Llamar después de las 18 hs.",
    "Respondo todas las consultas.",
)


def _describe(rng: random.Random, place: Place, body: Sequence[str], deal: Sequence[str] = ()) -> str:
    parts = [*body, _where(rng, place)]
    if deal:
        parts.extend(_pick(rng, deal, 0, 2))
    parts.append(rng.choice(_CONTACT))
    return " ".join(parts)


def _used_year(rng: random.Random, year: int, oldest: int = 25) -> int:
    """Most used machines and vehicles on sale are a few years old, a tail is much older."""
    return year - min(oldest, int(rng.triangular(1, oldest, 5)))


_USED_STATE = (
    "Excelente estado.",
    "Muy buen estado general.",
    "Lista para trabajar.",
    "Único dueño.",
    "Siempre bajo galpón.",
    "Service recién hecho.",
    "Mantenimiento en concesionario oficial.",
    "Papeles al día.",
    "Cubiertas al 70%.",
    "Sin detalles de chapa.",
)
_MACHINE_DEAL = (
    "Acepto permuta por cereal o hacienda.",
    "Se toma usado como parte de pago.",
    "Financiación en quintales de soja.",
    "Precio más IVA.",
    "Entrego con factura.",
    "Consultar por flete a todo el país.",
)
_NEW_DEAL = (
    "Entrega inmediata.",
    "Garantía oficial de fábrica.",
    "Financiación bancaria a tasa subsidiada.",
    "Precio más IVA.",
    "Consultar stock y colores.",
)


class _Model(NamedTuple):
    brand: str
    model: str
    new_usd: int
    spec: str = ""
    classic: bool = False
    """Made decades ago: only sold used, at a classic's price."""


# brand, model, price new in USD, a spec line for the description
_TRACTORS = (
    _Model("John Deere", "5090E", 65_000, "90 HP"),
    _Model("John Deere", "6110J", 95_000, "110 HP"),
    _Model("John Deere", "6145J", 130_000, "145 HP"),
    _Model("John Deere", "7200J", 190_000, "200 HP"),
    _Model("John Deere", "8R 340", 420_000, "340 HP"),
    _Model("Case IH", "Farmall 110A", 85_000, "110 HP"),
    _Model("Case IH", "Puma 155", 150_000, "155 HP"),
    _Model("Case IH", "Magnum 340", 400_000, "340 HP"),
    _Model("New Holland", "TT4030", 45_000, "75 HP"),
    _Model("New Holland", "T6.110", 100_000, "110 HP"),
    _Model("New Holland", "TM7040", 160_000, "180 HP"),
    _Model("New Holland", "T7.245", 230_000, "245 HP"),
    _Model("Massey Ferguson", "4292", 80_000, "110 HP"),
    _Model("Massey Ferguson", "7415", 140_000, "150 HP"),
    _Model("Deutz-Fahr", "Agrotron 6.165", 150_000, "165 HP"),
    _Model("Deutz-Fahr", "AX 4.190", 150_000, "190 HP"),
    _Model("Pauny", "280A", 110_000, "180 HP"),
    _Model("Pauny", "EVO 250", 170_000, "250 HP"),
    _Model("Pauny", "540C", 390_000, "540 HP, articulado"),
    _Model("Zanello", "4200", 120_000, "200 HP"),
    _Model("Zanello", "540 Alta Potencia", 380_000, "540 HP, articulado"),
    _Model("Valtra", "A950", 70_000, "95 HP"),
    _Model("Valtra", "BH194", 170_000, "190 HP"),
    _Model("Agrale", "5075", 40_000, "75 HP"),
    _Model("Fiat", "780E", 14_000, "78 HP", classic=True),
    _Model("Hanomag", "R55", 9_000, "55 HP", classic=True),
    _Model("Deutz", "A 85", 12_000, "85 HP", classic=True),
    _Model("Massey Ferguson", "1195", 16_000, "105 HP", classic=True),
    _Model("John Deere", "3530", 18_000, "90 HP", classic=True),
    _Model("Zanello", "460", 15_000, "120 HP", classic=True),
)
_TRACTOR_FEATURES = (
    "Doble tracción.",
    "Cabina con aire acondicionado.",
    "Toma de fuerza 540/1000.",
    "Tres puntos con control remoto.",
    "Con duales.",
    "Piloto automático instalado.",
    "Caja powershift.",
    "Con pala frontal.",
    "Contrapesos delanteros.",
)


def _machine_value(rng: random.Random, model: _Model, age: int, yearly_loss: float) -> float:
    if model.classic:
        return model.new_usd * rng.uniform(0.6, 1.3)
    return model.new_usd * (1 - yearly_loss) ** age


def _tractor(rng: random.Random, place: Place, year: int) -> Listing:
    m = rng.choice(_TRACTORS)
    features = _pick(rng, _TRACTOR_FEATURES, 1, 4)
    if not m.classic and rng.random() < 0.15:
        title = f"Tractor {m.brand} {m.model} 0 km" if rng.random() < 0.6 else f"Tractor {m.brand} {m.model} nuevo"
        body = [f"Tractor {m.brand} {m.model} nuevo, {m.spec}.", *features]
        price, currency = _price(rng, m.new_usd, usd_share=0.8)
        return Listing(title, _describe(rng, place, body, _NEW_DEAL), price, currency, "new")
    built = rng.randint(1972, 1995) if m.classic else _used_year(rng, year)
    hours = max(200, int(round((year - built) * rng.uniform(350, 700), -2)))
    title = f"Tractor {m.brand} {m.model} {built}, {_n(hours)} hs"
    body = [f"Vendo tractor {m.brand} {m.model} modelo {built}, {m.spec}, {_n(hours)} horas de uso.", *features]
    body.extend(_pick(rng, _USED_STATE, 1, 3))
    price, currency = _price(rng, _machine_value(rng, m, year - built, 0.07), usd_share=0.6)
    return Listing(title, _describe(rng, place, body, _MACHINE_DEAL), price, currency, "used")


_HARVESTERS = (
    _Model("John Deere", "S680", 560_000),
    _Model("John Deere", "S780", 650_000),
    _Model("John Deere", "9670 STS", 380_000),
    _Model("Case IH", "Axial-Flow 8250", 600_000),
    _Model("Case IH", "Axial-Flow 7130", 420_000),
    _Model("Case IH", "Axial-Flow 2388", 300_000),
    _Model("New Holland", "CR 5.85", 400_000),
    _Model("New Holland", "CR 9060", 420_000),
    _Model("New Holland", "TC 5090", 260_000),
    _Model("Claas", "Lexion 770", 620_000),
    _Model("Claas", "Tucano 570", 380_000),
    _Model("Vassalli", "AX 7500", 330_000),
    _Model("Don Roque", "RV 170", 280_000),
    _Model("Vassalli", "1550", 40_000, classic=True),
    _Model("John Deere", "1175", 35_000, classic=True),
)
_HARVESTER_FEATURES = (
    "Plataforma draper de 35 pies.",
    "Plataforma sojera de 30 pies.",
    "Cabezal maicero 12 a 52.",
    "Monitor de rendimiento y mapeo.",
    "Tolva de 10.500 litros.",
    "Picador y desparramador de granza.",
    "Duales adelante.",
    "Carro porta plataforma incluido.",
    "Piloto automático.",
)


def _harvester(rng: random.Random, place: Place, year: int) -> Listing:
    m = rng.choice(_HARVESTERS)
    features = _pick(rng, _HARVESTER_FEATURES, 1, 4)
    if not m.classic and rng.random() < 0.1:
        title = f"Cosechadora {m.brand} {m.model} 0 km"
        price, currency = _price(rng, m.new_usd, usd_share=0.9)
        body = [f"Cosechadora {m.brand} {m.model} nueva.", *features]
        return Listing(title, _describe(rng, place, body, _NEW_DEAL), price, currency, "new")
    built = rng.randint(1978, 1998) if m.classic else _used_year(rng, year, 18)
    hours = max(300, int(round((year - built) * rng.uniform(250, 450), -2)))
    title = f"Cosechadora {m.brand} {m.model} {built}"
    if rng.random() < 0.6:
        title += f", {_n(hours)} hs de motor"
    body = [f"Vendo cosechadora {m.brand} {m.model} año {built}, {_n(hours)} horas de motor.", *features]
    body.extend(_pick(rng, _USED_STATE, 1, 3))
    price, currency = _price(rng, _machine_value(rng, m, year - built, 0.08), usd_share=0.75)
    return Listing(title, _describe(rng, place, body, _MACHINE_DEAL), price, currency, "used")


_PLANTERS = (
    ("Agrometal", "TX Mega"),
    ("Agrometal", "MXY"),
    ("Pierobon", "Mega 3000"),
    ("Crucianelli", "Gringa V"),
    ("Crucianelli", "Pionera III"),
    ("Giorgi", "Precisa 8000"),
    ("Apache", "27000"),
    ("Apache", "54000"),
    ("Gherardi", "G-100"),
    ("Bertini", "32000"),
)
_PLANTER_FEATURES = (
    "Dosificación neumática.",
    "Monitor de siembra.",
    "Corte por sección.",
    "Fertilización en la línea.",
    "Doble fertilización.",
    "Ruedas tapadoras de fundición.",
    "Cuchillas turbo.",
    "Barrenador hidráulico.",
)


def _planter(rng: random.Random, place: Place, year: int) -> Listing:
    brand, model = rng.choice(_PLANTERS)
    fine = rng.random() < 0.25
    rows, spacing = (rng.choice((24, 32, 36, 40)), "17,5") if fine else (rng.choice((8, 12, 14, 16, 20, 24)), "52")
    if not fine and rng.random() < 0.3:
        spacing = "35" if rows > 16 else "70"
    kind = "Sembradora de grano fino" if fine else "Sembradora"
    new_usd = (1_900 if fine else 5_500) * rows
    features = _pick(rng, _PLANTER_FEATURES, 1, 3)
    if rng.random() < 0.2:
        title = f"{kind} {brand} {model} {rows} a {spacing} cm, 0 km"
        price, currency = _price(rng, new_usd, usd_share=0.75)
        body = [f"{kind} {brand} {model} nueva, {rows} surcos a {spacing} cm.", *features]
        return Listing(title, _describe(rng, place, body, _NEW_DEAL), price, currency, "new")
    built = _used_year(rng, year, 20)
    title = f"{kind} {brand} {model} {rows} surcos a {spacing} cm, {built}"
    body = [f"Vendo {kind.lower()} {brand} {model} {built}, {rows} surcos a {spacing} cm.", *features]
    body.extend(_pick(rng, _USED_STATE, 1, 2))
    price, currency = _price(rng, new_usd * 0.92 ** (year - built), usd_share=0.6)
    return Listing(title, _describe(rng, place, body, _MACHINE_DEAL), price, currency, "used")


_SPRAYERS_SELF = (
    _Model("Metalfor", "Multiple 3200", 260_000),
    _Model("Metalfor", "Futur 3000", 230_000),
    _Model("Pla", "MAP 3", 240_000),
    _Model("Jacto", "Uniport 3030", 250_000),
    _Model("John Deere", "M4040", 300_000),
    _Model("Case IH", "Patriot 250", 290_000),
    _Model("Stara", "Imperador 3.0", 270_000),
)
_SPRAYERS_TOWED = ("Metalfor", "Pla", "Golondrina", "Caimán", "Jacto")
_SPRAYER_FEATURES = (
    "Corte por sección automático.",
    "Banderillero satelital.",
    "Picos de triple boquilla.",
    "Cabina presurizada con filtro de carbón.",
    "Control de altura del barral.",
    "Computadora de pulverización.",
    "Tanque de acero inoxidable.",
)


def _sprayer(rng: random.Random, place: Place, year: int) -> Listing:
    features = _pick(rng, _SPRAYER_FEATURES, 1, 3)
    boom = rng.choice((18, 21, 24, 27, 28, 30, 36))
    if rng.random() < 0.6:
        m = rng.choice(_SPRAYERS_SELF)
        built = _used_year(rng, year, 15)
        hours = max(200, int(round((year - built) * rng.uniform(300, 600), -2)))
        title = f"Pulverizadora autopropulsada {m.brand} {m.model} {built}, barral {boom} m"
        body = [f"Pulverizadora autopropulsada {m.brand} {m.model}, año {built}, {_n(hours)} horas.", *features]
        body.extend(_pick(rng, _USED_STATE, 1, 2))
        price, currency = _price(rng, m.new_usd * 0.9 ** (year - built), usd_share=0.7)
        return Listing(title, _describe(rng, place, body, _MACHINE_DEAL), price, currency, "used")
    brand = rng.choice(_SPRAYERS_TOWED)
    litres = rng.choice((2_000, 2_500, 3_000, 3_500, 4_000))
    is_new = rng.random() < 0.3
    title = f"Pulverizadora de arrastre {brand} {_n(litres)} l, barral {boom} m"
    body = [f"Pulverizadora de arrastre {brand} de {_n(litres)} litros, barral de {boom} metros.", *features]
    usd = 6 * litres + 400 * boom
    if is_new:
        title += ", nueva"
        price, currency = _price(rng, usd, usd_share=0.5)
        return Listing(title, _describe(rng, place, body, _NEW_DEAL), price, currency, "new")
    price, currency = _price(rng, usd * rng.uniform(0.35, 0.8), usd_share=0.4)
    return Listing(title, _describe(rng, place, body, _MACHINE_DEAL), price, currency, "used")


class _Implement(NamedTuple):
    title: str
    """A template: ``{brand}`` and ``{size}`` are filled in."""
    brands: tuple[str, ...]
    sizes: tuple[str, ...]
    usd: tuple[int, int]


_IMPLEMENTS = (
    _Implement(
        "Tolva autodescargable {brand} {size} tn",
        ("Cestari", "Ombú", "Akron", "Montecor"),
        ("14", "18", "22", "26", "32"),
        (14_000, 45_000),
    ),
    _Implement(
        "Mixer vertical {brand} de {size} m³",
        ("Mainero", "Gea", "Grosspal", "Mary"),
        ("8", "12", "16"),
        (12_000, 38_000),
    ),
    _Implement(
        "Rastra de discos {brand} de {size} discos", ("Baldan", "Ombú", "Tatú"), ("28", "36", "44"), (5_000, 25_000)
    ),
    _Implement(
        "Rotoenfardadora {brand} {size}", ("Mainero", "Gea", "Vicon"), ("5880", "1.8", "RV 1601"), (9_000, 35_000)
    ),
    _Implement(
        "Desmalezadora de arrastre {brand} de {size} m",
        ("Yomel", "Rossmet", "Agrometal"),
        ("1,8", "2,2", "3"),
        (2_500, 9_000),
    ),
    _Implement(
        "Embolsadora de granos {brand} {size}",
        ("Akron", "Richiger", "Mainero"),
        ("de 9 pies", "de 10 pies"),
        (12_000, 30_000),
    ),
    _Implement(
        "Extractora de granos {brand} {size}",
        ("Akron", "Richiger"),
        ("de 16 pulgadas", "de 18 pulgadas"),
        (10_000, 26_000),
    ),
    _Implement("Cincel {brand} de {size} arcos", ("Ombú", "Baldan", "Agromec"), ("9", "11", "13"), (6_000, 20_000)),
    _Implement(
        "Fertilizadora al voleo {brand} {size} kg",
        ("Fertec", "Yomel", "Amazone"),
        ("800", "1.500", "2.500"),
        (3_000, 16_000),
    ),
    _Implement(
        "Pala frontal {brand} para tractor de {size} HP",
        ("Pauny", "Hidromec", "Oilmec"),
        ("80", "100", "140"),
        (3_500, 12_000),
    ),
    _Implement(
        "Acoplado tanque para agua {brand} de {size} litros", ("Cestari", "Ombú"), ("5.000", "8.000"), (4_000, 11_000)
    ),
)
_IMPLEMENT_STATE = ("Listo para usar.", "Poco uso, siempre bajo techo.", "Gomas nuevas.", "Con cardán y mangueras.")


def _implement(rng: random.Random, place: Place, year: int) -> Listing:
    kind = rng.choice(_IMPLEMENTS)
    brand = rng.choice(kind.brands)
    title = kind.title.format(brand=brand, size=rng.choice(kind.sizes))
    usd = rng.uniform(*kind.usd)
    if rng.random() < 0.25:
        price, currency = _price(rng, usd, usd_share=0.5)
        body = [f"{title}, nuevo de fábrica."]
        return Listing(f"{title}, nuevo", _describe(rng, place, body, _NEW_DEAL), price, currency, "new")
    built = _used_year(rng, year, 20)
    title = f"{title}, {built}"
    body = [f"Vendo {title[0].lower()}{title[1:]}.", *_pick(rng, _IMPLEMENT_STATE, 1, 2)]
    price, currency = _price(rng, usd * 0.9 ** (year - built), usd_share=0.4)
    return Listing(title, _describe(rng, place, body, _MACHINE_DEAL), price, currency, "used")


_PART_BRANDS = ("John Deere", "Case IH", "New Holland", "Massey Ferguson", "Pauny", "Zanello", "Deutz")
_TYRE_BRANDS = ("Firestone", "Pirelli", "Goodyear", "Titan", "Fate")
# a template and its price in pesos
_PARTS = (
    ("Cubiertas {tyre} {tyre_brand} para tractor x 2", 2_600_000),
    ("Juego de cuchillas para cosechadora {brand}", 450_000),
    ("Discos para sembradora x {count}", 60_000),
    ("Bomba hidráulica para tractor {brand}", 1_300_000),
    ("Embrague completo para tractor {brand}", 900_000),
    ("Radiador para tractor {brand}", 700_000),
    ("Kit de filtros para {brand}", 180_000),
    ("Monitor de siembra {monitor}", 2_400_000),
    ("Piloto automático {autopilot}", 9_500_000),
    ("Picos para pulverizadora Teejet x 50", 350_000),
    ("Kit de sellos para cilindro hidráulico", 90_000),
    ("Cadena para embocador de cosechadora {brand}", 600_000),
)


def _part(rng: random.Random, place: Place, year: int) -> Listing:
    template, ars = rng.choice(_PARTS)
    title = template.format(
        brand=rng.choice(_PART_BRANDS),
        tyre=rng.choice(("18.4-38", "20.8-38", "14.9-28", "23.1-26", "710/70 R38")),
        tyre_brand=rng.choice(_TYRE_BRANDS),
        count=rng.choice((10, 20, 40)),
        monitor=rng.choice(("Plantium", "Verion", "Controlagro")),
        autopilot=rng.choice(("Trimble", "Ag Leader", "Plantium", "Verion")),
    )
    is_new = rng.random() < 0.8
    state = "Nuevo, en caja." if is_new else "Usado, funcionando perfecto."
    body = [state, rng.choice(("Envíos a todo el país.", "Retiro en el local.", "Consultar compatibilidad."))]
    price, currency = _ars(rng, ars if is_new else ars * 0.5)
    return Listing(title, _describe(rng, place, body), price, currency, "new" if is_new else "used")


# Livestock: prices per head in pesos, for a lot of n animals; breeds follow the region.
_CATTLE_BREEDS = ("Aberdeen Angus", "Hereford", "Polled Hereford", "Shorthorn", "Limousin", "cruza británica")
_CATTLE_BREEDS_NORTH = ("Brangus", "Braford", "Bonsmara", "Criollo", "cruza cebú")
_NORTH = frozenset(
    ("chaco", "formosa", "corrientes", "misiones", "salta", "jujuy", "tucuman", "santiago-del-estero", "catamarca")
)
_PATAGONIA = frozenset(("chubut", "santa-cruz", "tierra-del-fuego", "neuquen", "rio-negro"))
_CATTLE_NOTES = (
    "Buen estado corporal.",
    "Sanidad completa: aftosa, brucelosis y mancha.",
    "Sanidad al día.",
    "Con DT-e para traslado.",
    "Hacienda mansa, criada a campo.",
    "Hacienda de un solo origen.",
    "Tropa pareja.",
)
_LIVESTOCK_DEAL = (
    "Precio por lote, puesto en el campo.",
    "Se puede ver con turno previo.",
    "Acepto cheques a 30 días.",
    "Flete a cargo del comprador.",
    "Se vende por remate o particular.",
)


def _cattle(rng: random.Random, place: Place, year: int) -> Listing:
    breed = rng.choice(_CATTLE_BREEDS_NORTH if place.province_code in _NORTH else _CATTLE_BREEDS)
    kind = rng.randrange(7)
    n = rng.choice((10, 15, 20, 25, 30, 40, 50, 60, 80, 100, 120, 150))
    if kind == 0:
        kg = rng.randrange(150, 231, 5)
        title, head = f"Terneros {breed} x {n}, {kg} kg promedio", kg * 3_800
    elif kind == 1:
        kg = rng.randrange(140, 221, 5)
        title, head = f"Terneras {breed} x {n}, {kg} kg", kg * 3_600
    elif kind == 2:
        title, head = f"Vaquillonas {breed} preñadas x {n}", 1_650_000
    elif kind == 3:
        title, head = f"Vacas {breed} con cría al pie x {n}", 2_200_000
    elif kind == 4:
        kg = rng.randrange(360, 481, 10)
        title, head = f"Novillos {breed} x {n}, {kg} kg", kg * 3_300
    elif kind == 5:
        n = rng.choice((1, 2, 3, 5, 8))
        grade = rng.choice(("PP", "PC"))
        # pedigree (PP) and controlled pure-bred (PC) bulls are never crossbreds
        breed = breed if not breed.startswith("cruza") else rng.choice(_CATTLE_BREEDS[:5])
        title = f"Toro {breed} {grade}, {rng.randint(2, 5)} años" if n == 1 else f"Toros {breed} {grade} x {n}"
        head = 7_000_000 if grade == "PP" else 4_500_000
    else:
        title, head = f"Vacas Holando Argentino en ordeñe x {n}", 2_600_000
    body = [*_pick(rng, _CATTLE_NOTES, 1, 3)]
    if kind in (2, 3):
        body.append(f"Servicio con toros {rng.choice(_CATTLE_BREEDS[:5])}, tacto confirmado.")
    price, currency = _ars(rng, head * n, on_request=0.25)
    return Listing(title, _describe(rng, place, body, _LIVESTOCK_DEAL), price, currency, None)


_SHEEP_BREEDS = ("Merino", "Corriedale", "Texel", "Dohne", "Hampshire Down", "Pampinta", "Romney Marsh")
_SHEEP_BREEDS_SOUTH = ("Merino", "Corriedale", "Dohne", "Merino PHD")


def _sheep(rng: random.Random, place: Place, year: int) -> Listing:
    breed = rng.choice(_SHEEP_BREEDS_SOUTH if place.province_code in _PATAGONIA else _SHEEP_BREEDS)
    kind = rng.randrange(4)
    n = rng.choice((10, 20, 30, 50, 80, 100, 150, 200, 300))
    if kind == 0:
        title, head = f"Ovejas {breed} x {n}", 180_000
    elif kind == 1:
        title, head = f"Corderos {breed} x {n}", 120_000
    elif kind == 2:
        title, head = f"Borregas {breed} x {n}", 160_000
    else:
        n = rng.choice((2, 3, 5, 10))
        title, head = f"Carneros {breed} PP x {n}", 800_000
    body = [rng.choice(("Buena lana y buen estado.", "Esquiladas en primavera.", "Sanidad al día, libres de sarna."))]
    price, currency = _ars(rng, head * n, on_request=0.25)
    return Listing(title, _describe(rng, place, body, _LIVESTOCK_DEAL), price, currency, None)


_PIG_BREEDS = ("Duroc", "Landrace", "Large White", "Hampshire", "Pietrain", "cruza Landrace x Large White")


def _pig(rng: random.Random, place: Place, year: int) -> Listing:
    kind = rng.randrange(4)
    if kind == 0:
        n = rng.choice((10, 15, 20, 30, 50))
        title, total = f"Lechones x {n}, destetados", 80_000 * n
    elif kind == 1:
        n, kg = rng.choice((10, 20, 40, 60)), rng.randrange(95, 121, 5)
        title, total = f"Capones de {kg} kg x {n}", 1_700 * kg * n
    elif kind == 2:
        n = rng.choice((5, 10, 20))
        title, total = f"Cerdas madres {rng.choice(_PIG_BREEDS)} x {n}", 550_000 * n
    else:
        title, total = f"Padrillo {rng.choice(_PIG_BREEDS[:5])} de {rng.randint(1, 3)} años", 1_100_000
    body = [rng.choice(("Criados a campo.", "Producción intensiva con sanidad controlada.", "Excelente genética."))]
    price, currency = _ars(rng, total, on_request=0.2)
    return Listing(title, _describe(rng, place, body, _LIVESTOCK_DEAL), price, currency, None)


_HORSE_BREEDS = ("Criollo", "Cuarto de Milla", "Silla Argentino", "Árabe", "Percherón", "Appaloosa", "Paso Peruano")
_HORSE_TRAITS = (
    "manso, de andar",
    "ideal para trabajo de campo",
    "domado, de rienda",
    "apto para principiantes",
    "con papeles",
    "muy buena rienda, apto para jineteada",
)


def _horse(rng: random.Random, place: Place, year: int) -> Listing:
    breed = rng.choice(_HORSE_BREEDS)
    kind = rng.randrange(5)
    if kind == 0:
        title = f"Caballo {breed} de {rng.randint(3, 14)} años, {rng.choice(_HORSE_TRAITS)}"
        price, currency = _ars(rng, rng.uniform(1_800_000, 5_000_000), on_request=0.2)
    elif kind == 1:
        title = f"Yegua {breed} de {rng.randint(3, 14)} años, {rng.choice(_HORSE_TRAITS)}"
        price, currency = _ars(rng, rng.uniform(1_500_000, 4_500_000), on_request=0.2)
    elif kind == 2:
        n = rng.choice((2, 3, 4))
        title = f"Potrillos {breed} x {n}"
        price, currency = _ars(rng, 1_200_000 * n, on_request=0.2)
    elif kind == 3:
        n = rng.choice((4, 6, 8))
        title = f"Tropilla de {n} caballos criollos, {rng.choice(('tordillos', 'zainos', 'overos', 'bayos'))}"
        price, currency = _ars(rng, 2_000_000 * n, on_request=0.3)
    else:
        n = rng.choice((1, 2, 3))
        title = "Petiso de polo, jugado" if n == 1 else f"Petisos de polo x {n}, jugados"
        price, currency = _price(rng, 12_000 * n, usd_share=0.8, on_request=0.3)
    body = [rng.choice(("Herrado y desparasitado.", "Sin mañas.", "Anemia negativa al día.", "Con libreta sanitaria."))]
    return Listing(title, _describe(rng, place, body, _LIVESTOCK_DEAL), price, currency, None)


_GOAT_BREEDS = ("Anglo Nubian", "Boer", "Saanen", "Criolla", "Toggenburg")


def _goat(rng: random.Random, place: Place, year: int) -> Listing:
    breed = rng.choice(_GOAT_BREEDS)
    kind = rng.randrange(3)
    n = rng.choice((10, 15, 20, 25, 40, 60))
    if kind == 0:
        title, head = f"Cabras {breed} x {n}", 150_000
    elif kind == 1:
        title, head = f"Chivitos {breed} x {n}", 90_000
    else:
        n = 1
        title, head = f"Macho cabrío {breed} PC", 450_000
    body = [rng.choice(("Buenas lecheras.", "Criadas a monte.", "Sanidad al día.", "Muy buena conformación."))]
    price, currency = _ars(rng, head * n, on_request=0.25)
    return Listing(title, _describe(rng, place, body, _LIVESTOCK_DEAL), price, currency, None)


class _LandRegion(NamedTuple):
    usd_per_ha: tuple[int, int]
    hectares: tuple[int, int]
    kinds: tuple[str, ...]


_CORE = frozenset(("buenos-aires", "cordoba", "santa-fe", "entre-rios", "caba"))
_LAND_CORE = _LandRegion((5_000, 16_000), (50, 1_500), ("agrícola", "agrícola", "mixto", "ganadero", "de invernada"))
_LAND_PAMPA = _LandRegion((1_500, 5_000), (200, 5_000), ("mixto", "ganadero", "de cría", "agrícola"))
_LAND_NORTH = _LandRegion((500, 3_500), (300, 8_000), ("ganadero", "de cría", "agrícola", "forestal"))
_LAND_PATAGONIA = _LandRegion((40, 600), (2_000, 30_000), ("ganadero", "ovino", "de cría"))
_LAND_CUYO = _LandRegion((800, 3_000), (100, 6_000), ("ganadero", "de cría", "con riego", "vitivinícola"))
_CUYO = frozenset(("mendoza", "san-juan", "san-luis", "la-rioja", "catamarca"))
_LAND_FEATURES = (
    "Casa principal y casa de casero.",
    "Galpón de 400 m².",
    "Molinos y aguadas en todos los potreros.",
    "Manga, cepo y corrales.",
    "Alambrados perimetrales e internos en buen estado.",
    "Acceso por ruta asfaltada.",
    "Luz trifásica.",
    "Monte de reparo.",
    "Silos de chapa con capacidad para 300 tn.",
)


def _land_region(province_code: str) -> _LandRegion:
    if province_code in _CORE:
        return _LAND_CORE
    if province_code in _PATAGONIA:
        return _LAND_PATAGONIA
    if province_code in _CUYO:
        return _LAND_CUYO
    if province_code in _NORTH:
        return _LAND_NORTH
    return _LAND_PAMPA


def _farm(rng: random.Random, place: Place, year: int) -> Listing:
    region = _land_region(place.province_code)
    # sizes are skewed small: many modest farms, few huge estancias
    low, high = region.hectares
    hectares = _round_price(low + (high - low) * rng.random() ** 2)
    kind = rng.choice(region.kinds)
    title = f"Campo {kind} {_n(hectares)} ha en {place.locality}"
    body = [f"Campo {kind} de {_n(hectares)} hectáreas a {rng.randint(3, 40)} km de {place.locality}."]
    if region is _LAND_CORE and kind == "agrícola":
        body.append(f"Suelos clase I-II, índice de productividad {rng.randint(65, 95)}.")
    body.extend(_pick(rng, _LAND_FEATURES, 1, 4))
    price, currency = _price(rng, hectares * rng.uniform(*region.usd_per_ha), usd_share=0.95, on_request=0.15)
    deal = ("Escritura inmediata.", "Acepto parte en permuta.", "Se vende con hacienda o sin hacienda.")
    return Listing(title, _describe(rng, place, body, deal), price, currency, None)


def _chacra(rng: random.Random, place: Place, year: int) -> Listing:
    hectares = rng.choice((5, 8, 10, 12, 15, 20, 25, 30, 40, 50, 80))
    if place.province_code == "rio-negro" or place.province_code == "neuquen":
        fruit = rng.choice(("manzanas y peras", "peras Williams", "manzanas Red Delicious", "cerezas"))
        title = f"Chacra frutícola {hectares} ha en {place.locality}, {fruit}"
        body = [f"Chacra en producción con {fruit}, riego por manto y malla antigranizo en parte."]
    else:
        title = f"Chacra {hectares} ha con casa en {place.locality}"
        body = [
            f"Chacra de {hectares} hectáreas con casa de material, galpón y luz.",
            rng.choice(("Apta para tambo o feedlot chico.", "Ideal producción hortícola.", "A 2 km del pueblo.")),
        ]
    price, currency = _price(rng, hectares * rng.uniform(8_000, 25_000), usd_share=0.9, on_request=0.1)
    return Listing(title, _describe(rng, place, body, ("Escritura inmediata.",)), price, currency, None)


def _quinta(rng: random.Random, place: Place, year: int) -> Listing:
    size = rng.choice(("½ ha", "1 ha", "1,5 ha", "2 ha", "3 ha", "5 ha"))
    title = rng.choice(
        (
            f"Quinta de {size} con pileta en {place.locality}",
            f"Casa quinta {size} en {place.locality}",
            f"Quinta {size} con frutales en {place.locality}",
        )
    )
    body = [
        f"Quinta de {size} con casa de {rng.randint(2, 4)} dormitorios, quincho y parrilla.",
        rng.choice(("Frutales y arboleda añosa.", "Pileta y galería.", "Pozo de agua y tanque elevado.")),
    ]
    price, currency = _price(rng, rng.uniform(60_000, 350_000), usd_share=0.9, on_request=0.1)
    return Listing(
        title, _describe(rng, place, body, ("Acepto permuta por propiedad en la ciudad.",)), price, currency, None
    )


# (title, the unit the price is for, pesos per unit); "{q}" in a title takes a quantity
_SEEDS = (
    ("Semilla de soja DM 46R18 STS x {q} bolsas", "bolsa de 40 kg", 55_000),
    ("Semilla de soja NS 4619 STS x {q} bolsas", "bolsa de 40 kg", 52_000),
    ("Semilla de maíz DK 72-10 VT3P", "bolsa de 80.000 semillas", 290_000),
    ("Semilla de maíz ACA 473", "bolsa de 80.000 semillas", 250_000),
    ("Semilla de trigo Baguette 620 x {q} bolsas", "bolsa de 40 kg", 32_000),
    ("Semilla de trigo Klein Liebre", "bolsa de 40 kg", 30_000),
    ("Semilla de girasol Paraíso 1100 CL", "bolsa de 150.000 semillas", 260_000),
    ("Semilla de alfalfa grupo 6, bolsa de 25 kg", "bolsa", 180_000),
    ("Semilla de sorgo forrajero, bolsa de 20 kg", "bolsa", 70_000),
    ("Semilla de avena x {q} bolsas", "bolsa de 40 kg", 22_000),
)
_FERTILIZERS = (
    ("Urea granulada 46% x {q} tn", "tonelada", 950_000),
    ("Fosfato monoamónico (MAP) x {q} tn", "tonelada", 1_150_000),
    ("Fosfato diamónico (DAP) en big bag", "tonelada", 1_100_000),
    ("Superfosfato simple x {q} tn", "tonelada", 600_000),
    ("UAN 32% a granel x {q} m³", "metro cúbico", 700_000),
    ("Sulfato de amonio en bolsas de 50 kg", "tonelada", 550_000),
)
_AGROCHEMICALS = (
    ("Glifosato 62%, bidón de 20 l", "bidón", 110_000),
    ("Atrazina 90% WG x {q} kg", "bolsa de 10 kg", 95_000),
    ("2,4-D sal amina, bidón de 20 l", "bidón", 120_000),
    ("Cletodim 24% x {q} bidones de 20 l", "bidón", 210_000),
    ("Cipermetrina 25%, bidón de 20 l", "bidón", 90_000),
    ("Aceite metilado (coadyuvante) x {q} bidones", "bidón de 20 l", 60_000),
    ("Fungicida estrobilurina + triazol, bidón de 5 l", "bidón", 150_000),
)
_FEEDS = (
    ("Alimento balanceado iniciador para terneros, bolsa de 25 kg", "bolsa", 19_000),
    ("Balanceado para engorde a corral x {q} tn", "tonelada", 420_000),
    ("Núcleo vitamínico mineral para feedlot", "bolsa de 25 kg", 48_000),
    ("Pellet de soja x {q} tn", "tonelada", 330_000),
    ("Expeller de soja x {q} tn", "tonelada", 360_000),
    ("Rollos de alfalfa x {q}", "rollo", 75_000),
    ("Fardos de alfalfa x {q}", "fardo", 9_000),
    ("Maíz partido x {q} tn", "tonelada", 230_000),
    ("Balanceado para equinos, bolsa de 30 kg", "bolsa", 26_000),
)


def _supply(items: tuple[tuple[str, str, int], ...], notes: tuple[str, ...], usd_share: float = 0.0) -> ListingMaker:
    def make(rng: random.Random, place: Place, year: int) -> Listing:
        template, unit, ars = rng.choice(items)
        title = template.format(q=rng.choice((10, 20, 30, 50, 100)))
        body = [f"Precio por {unit}.", *_pick(rng, notes, 1, 2)]
        if usd_share and rng.random() < usd_share:
            price, currency = _price(rng, ars / ARS_PER_USD, usd_share=1.0)
        else:
            price, currency = _ars(rng, ars, on_request=0.1)
        return Listing(title, _describe(rng, place, body), price, currency, None)

    return make


_SUPPLY_NOTES = (
    "Con remito y factura A o B.",
    "Entrega en campo sin cargo en un radio de 50 km.",
    "Descuento por cantidad.",
    "Stock permanente.",
    "Retiro en planta.",
)
_AGROCHEMICAL_NOTES = (
    "Producto con registro SENASA.",
    "Venta con receta agronómica.",
    "Con remito y factura.",
    "Descuento por cantidad.",
)


class _Service(NamedTuple):
    titles: tuple[str, ...]
    notes: tuple[str, ...]
    ars: int
    unit: str


_CONTRACTORS = _Service(
    (
        "Cosecha de soja, maíz y trigo, zona {locality}",
        "Siembra directa de gruesa y fina en {locality} y zona",
        "Pulverización terrestre con autopropulsada, zona {locality}",
        "Embolsado y extracción de granos, {province}",
        "Confección de rollos y fardos en {locality}",
        "Picado de forraje y silo de maíz, zona {locality}",
        "Fertilización al voleo y dosis variable, {province}",
    ),
    ("Equipos propios y nuevos.", "Más de 20 años de experiencia.", "Trabajo con monitor y mapas de rinde."),
    45_000,
    "por hectárea",
)
_LIVESTOCK_TRANSPORT = _Service(
    (
        "Transporte de hacienda en jaula doble piso, {province} y todo el país",
        "Camión jaula para hacienda en {locality}",
        "Fletes de hacienda chica: ovinos y porcinos, zona {locality}",
        "Traslado de caballos con trailer, {province}",
    ),
    ("Habilitado por SENASA.", "Seguro de carga.", "Viajes cortos y largos."),
    2_800,
    "por km",
)
_VETERINARY = _Service(
    (
        "Veterinario rural en {locality}: sanidad y reproducción",
        "Tacto y ecografía reproductiva, zona {locality}",
        "IATF: inseminación artificial a tiempo fijo, {province}",
        "Raspaje de toros y control de venéreas, zona {locality}",
        "Vacunación antiaftosa y brucelosis, {province}",
        "Asesoramiento en feedlot y nutrición, {province}",
    ),
    ("Matrícula provincial.", "Atención de urgencias.", "Trabajo con manga del cliente."),
    6_500,
    "por cabeza",
)


def _service(service: _Service) -> ListingMaker:
    def make(rng: random.Random, place: Place, year: int) -> Listing:
        title = rng.choice(service.titles).format(locality=place.locality, province=place.province_name)
        body = [*_pick(rng, service.notes, 1, 3)]
        price, currency = _ars(rng, service.ars, on_request=0.55)
        if price is not None:
            body.insert(0, f"Precio {service.unit}.")
        return Listing(title, _describe(rng, place, body), price, currency, None)

    return make


# brand, model, trims, price new in pesos
_PICKUPS = (
    ("Toyota", "Hilux", ("DX", "SRV", "SRX", "GR-S"), 58_000_000),
    ("Ford", "Ranger", ("XL", "XLS", "XLT", "Limited"), 52_000_000),
    ("Volkswagen", "Amarok", ("Trendline", "Comfortline", "Highline", "Extreme V6"), 60_000_000),
    ("Chevrolet", "S10", ("LS", "LT", "LTZ", "High Country"), 50_000_000),
    ("Nissan", "Frontier", ("S", "XE", "LE", "PRO-4X"), 49_000_000),
    ("Renault", "Alaskan", ("Confort", "Intens", "Emotion"), 45_000_000),
    ("Fiat", "Toro", ("Freedom", "Volcano", "Ranch"), 38_000_000),
    ("Mitsubishi", "L200", ("GLX", "GLS"), 44_000_000),
)
_VEHICLE_NOTES = (
    "Cabina doble.",
    "Motor diésel.",
    "Caja manual de 6 marchas.",
    "Caja automática.",
    "Service oficial al día.",
    "VTV vigente.",
    "Cubiertas nuevas.",
    "Con enganche y cúpula.",
)
_VEHICLE_DEAL = ("Acepto permuta.", "Transferencia inmediata.", "Financio hasta el 50%.", "No acepto permutas.")


def _pickup(rng: random.Random, place: Place, year: int) -> Listing:
    brand, model, trims, new_ars = rng.choice(_PICKUPS)
    trim = rng.choice(trims)
    traction = "4x4" if rng.random() < 0.7 else "4x2"
    body = [*_pick(rng, _VEHICLE_NOTES, 2, 4)]
    if rng.random() < 0.12:
        title = f"Camioneta {brand} {model} {trim} {traction} 0 km"
        price, currency = _price(rng, new_ars / ARS_PER_USD, usd_share=0.1, on_request=0.1)
        return Listing(title, _describe(rng, place, body, _NEW_DEAL), price, currency, "new")
    built = _used_year(rng, year, 18)
    km = max(5_000, int(round((year - built) * rng.uniform(15_000, 35_000), -3)))
    title = f"Camioneta {brand} {model} {trim} {traction} {built}, {_n(km)} km"
    price, currency = _price(rng, new_ars / ARS_PER_USD * 0.9 ** (year - built), usd_share=0.25, on_request=0.04)
    return Listing(title, _describe(rng, place, body, _VEHICLE_DEAL), price, currency, "used")


_TRUCKS = (
    _Model("Mercedes-Benz", "Atego 1726", 95_000),
    _Model("Mercedes-Benz", "Axor 2041", 140_000),
    _Model("Mercedes-Benz", "Actros 2046", 185_000),
    _Model("Mercedes-Benz", "Accelo 1016", 58_000),
    _Model("Scania", "R450", 190_000),
    _Model("Scania", "G410", 165_000),
    _Model("Scania", "P310", 135_000),
    _Model("Iveco", "Tector 170E28", 92_000),
    _Model("Iveco", "Stralis 570S46T", 170_000),
    _Model("Volvo", "FH 460", 195_000),
    _Model("Volvo", "VM 270", 115_000),
    _Model("Ford", "Cargo 1723", 78_000),
    _Model("Volkswagen", "Constellation 17.280", 98_000),
    _Model("Volkswagen", "Delivery 11.180", 56_000),
)
_TRUCK_BODIES = ("con caja volcadora", "con jaula para hacienda", "tractor", "con caja playa", "con cisterna", "chasis")


def _truck(rng: random.Random, place: Place, year: int) -> Listing:
    m = rng.choice(_TRUCKS)
    body_type = rng.choice(_TRUCK_BODIES)
    notes = _pick(rng, _VEHICLE_NOTES[1:], 1, 3)
    if rng.random() < 0.08:
        title = f"Camión {m.brand} {m.model} 0 km"
        price, currency = _price(rng, m.new_usd, usd_share=0.6, on_request=0.15)
        return Listing(title, _describe(rng, place, notes, _NEW_DEAL), price, currency, "new")
    built = _used_year(rng, year, 25)
    km = max(20_000, int(round((year - built) * rng.uniform(40_000, 110_000), -3)))
    title = f"Camión {m.brand} {m.model} {built} {body_type}, {_n(km)} km"
    price, currency = _price(rng, m.new_usd * 0.91 ** (year - built), usd_share=0.55)
    return Listing(title, _describe(rng, place, notes, _VEHICLE_DEAL), price, currency, "used")


_TRAILER_BRANDS = ("Helvética", "Bonano", "Randon", "Sola y Brusa", "Montenegro", "Vulcano", "Salto", "Hermann")
_TRAILERS = (
    ("Acoplado tolva {brand} 3 ejes", 45_000),
    ("Semirremolque tolva {brand}", 55_000),
    ("Semirremolque jaula doble piso {brand}", 60_000),
    ("Acoplado playo {brand} 2 ejes", 22_000),
    ("Batea volcadora {brand}", 50_000),
    ("Semirremolque tanque cisterna {brand}", 65_000),
)


def _trailer(rng: random.Random, place: Place, year: int) -> Listing:
    template, new_usd = rng.choice(_TRAILERS)
    name = template.format(brand=rng.choice(_TRAILER_BRANDS))
    notes = [rng.choice(("Con lona.", "Suspensión neumática.", "Cubiertas al 80%.", "Papeles al día, RUTA vigente."))]
    if rng.random() < 0.15:
        price, currency = _price(rng, new_usd, usd_share=0.6)
        return Listing(f"{name} 0 km", _describe(rng, place, notes, _NEW_DEAL), price, currency, "new")
    built = _used_year(rng, year, 30)
    price, currency = _price(rng, new_usd * 0.93 ** (year - built), usd_share=0.5)
    return Listing(f"{name} {built}", _describe(rng, place, notes, _VEHICLE_DEAL), price, currency, "used")


class _CategorySpec(NamedTuple):
    make: ListingMaker
    weight: int
    """Share of the ads (relative)."""
    in_cities: bool
    """Can sit in CABA. A cow, a field or a contractor cannot; parts, supplies and trucks can."""


# Keyed by reference slug: a leaf category without an entry here gets no demo ads.
CATEGORY_SPECS: dict[str, _CategorySpec] = {
    "tractores": _CategorySpec(_tractor, 9, True),
    "cosechadoras": _CategorySpec(_harvester, 4, False),
    "sembradoras": _CategorySpec(_planter, 4, False),
    "pulverizadoras": _CategorySpec(_sprayer, 3, False),
    "implementos": _CategorySpec(_implement, 7, False),
    "repuestos": _CategorySpec(_part, 6, True),
    "bovinos": _CategorySpec(_cattle, 12, False),
    "ovinos": _CategorySpec(_sheep, 3, False),
    "porcinos": _CategorySpec(_pig, 2, False),
    "equinos": _CategorySpec(_horse, 4, False),
    "caprinos": _CategorySpec(_goat, 1, False),
    "campos": _CategorySpec(_farm, 6, False),
    "chacras": _CategorySpec(_chacra, 3, False),
    "quintas": _CategorySpec(_quinta, 2, False),
    "semillas": _CategorySpec(_supply(_SEEDS, _SUPPLY_NOTES, usd_share=0.2), 3, True),
    "fertilizantes": _CategorySpec(_supply(_FERTILIZERS, _SUPPLY_NOTES, usd_share=0.4), 2, True),
    "agroquimicos": _CategorySpec(_supply(_AGROCHEMICALS, _AGROCHEMICAL_NOTES, usd_share=0.3), 2, True),
    "alimento-balanceado": _CategorySpec(_supply(_FEEDS, _SUPPLY_NOTES), 3, False),
    "contratistas": _CategorySpec(_service(_CONTRACTORS), 4, False),
    "transporte-de-hacienda": _CategorySpec(_service(_LIVESTOCK_TRANSPORT), 2, False),
    "veterinaria": _CategorySpec(_service(_VETERINARY), 1, False),
    "camionetas": _CategorySpec(_pickup, 8, True),
    "camiones": _CategorySpec(_truck, 4, True),
    "acoplados": _CategorySpec(_trailer, 3, True),
}


# --------------------------------------------------------------------------------------------
# Rows


def _uuid7(rng: random.Random, unix_ms: int) -> uuid.UUID:
    """A UUIDv7 (RFC 9562) whose 74 random bits come from ``rng``: deterministic and time-ordered."""
    rand = rng.getrandbits(74)
    value = (unix_ms << 80) | (0x7 << 76) | ((rand >> 62) << 64) | (0b10 << 62) | (rand & ((1 << 62) - 1))
    return uuid.UUID(int=value)


def _at(unix_ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=unix_ms)


def _moment(rng: random.Random, anchor_ms: int, days_ago: tuple[int, int]) -> int:
    """A millisecond during one of the days ``days_ago`` (``[first, last)``) before the anchor.

    People post between 7 and 24 hs Argentine time (UTC-3), most around midday.
    """
    day = rng.randrange(*days_ago)
    local_hour = rng.triangular(7.0, 24.0, 13.0)
    utc_ms_of_day = int((local_hour + 3.0) % 24.0 * _HOUR_MS)
    return anchor_ms - (day + 1) * _DAY_MS + utc_ms_of_day


class _Seller(NamedTuple):
    email: str
    province_code: str
    row: tuple[Any, ...]


def _sellers(seed: int, count: int, anchor_ms: int, password_hash: str) -> list[_Seller]:
    rng = random.Random(f"rural24-seed:{seed}:users")
    codes, cum_weights = _weighted_provinces(in_cities=True)
    sellers: list[_Seller] = []
    for n in range(1, count + 1):
        province = rng.choices(codes, cum_weights=cum_weights)[0]
        last = rng.choice(LAST_NAMES)
        if rng.random() < 0.15:
            name = rng.choice(BUSINESS_PATTERNS).format(last=last, estancia=rng.choice(ESTANCIA_NAMES))
        else:
            name = f"{rng.choice(FIRST_NAMES)} {last}"
        phone = None
        if rng.random() < 0.75:
            area = AREA_CODES[province]
            local = str(rng.randrange(10 ** (9 - len(area)), 10 ** (10 - len(area))))
            phone = f"+54 9 {area} {local[:-4]}-{local[-4:]}"
        # registered before the ads' window: they are sellers, their ads come later
        created_ms = _moment(rng, anchor_ms, (WINDOW_DAYS + 1, 730))
        email = f"demo{n}@{DEMO_EMAIL_DOMAIN}"
        created = _at(created_ms)
        row = (_uuid7(rng, created_ms), email, password_hash, name, phone, province, "user", created, created)
        sellers.append(_Seller(email, province, row))
    return sellers


def _weighted_provinces(*, in_cities: bool) -> tuple[list[str], list[int]]:
    codes = [code for code in PROVINCE_WEIGHTS if in_cities or code != "caba"]
    cum_weights: list[int] = []
    total = 0
    for code in codes:
        total += PROVINCE_WEIGHTS[code]
        cum_weights.append(total)
    return codes, cum_weights


def _ad_batches(
    seed: int,
    count: int,
    anchor_ms: int,
    categories: Sequence[ReferenceCategory],
    owners: Sequence[tuple[uuid.UUID, str]],
) -> Iterator[list[tuple[Any, ...]]]:
    """``count`` ad rows (in :data:`AD_COLUMNS` order), :data:`BATCH_SIZE` at a time.

    The stream depends on the seed only, not on the number of sellers or the batch size: owners
    are drawn with one ``random()`` each, so ``--ads 1000`` and ``--ads 100000`` share their first
    thousand ads.
    """
    rng = random.Random(f"rural24-seed:{seed}:ads")
    province_names = {p.code: p.name for p in PROVINCES}
    year = _at(anchor_ms).year
    specs = [CATEGORY_SPECS[c.slug] for c in categories]
    cum_weights: list[int] = []
    total = 0
    for spec in specs:
        total += spec.weight
        cum_weights.append(total)
    everywhere = _weighted_provinces(in_cities=True)
    countryside = _weighted_provinces(in_cities=False)
    ttl_ms = int(AD_TTL.total_seconds() * 1000)
    ttl_days = AD_TTL.days
    batch: list[tuple[Any, ...]] = []
    for _ in range(count):
        index = rng.choices(range(len(specs)), cum_weights=cum_weights)[0]
        spec = specs[index]
        owner_id, owner_province = owners[int(rng.random() * len(owners))]
        # sellers mostly sell where they live
        province = owner_province
        if rng.random() < 0.2 or (province == "caba" and not spec.in_cities):
            codes, weights = everywhere if spec.in_cities else countryside
            province = rng.choices(codes, cum_weights=weights)[0]
        place = Place(province, province_names[province], rng.choice(LOCALITIES[province]))
        listing = spec.make(rng, place, year)

        # An active ad is unexpired (the expiry job would flip it otherwise), so it was posted in
        # the last ttl - 1 days; an expired one is older than the ttl; paused and sold ones span
        # the whole window.
        draw = rng.random()
        if draw < 0.85:
            status, days_ago = "active", (0, ttl_days - 1)
        elif draw < 0.90:
            status, days_ago = "paused", (0, WINDOW_DAYS)
        elif draw < 0.96:
            status, days_ago = "sold", (0, WINDOW_DAYS)
        else:
            status, days_ago = "expired", (ttl_days, WINDOW_DAYS)
        created_ms = _moment(rng, anchor_ms, days_ago)
        expires_ms = created_ms + ttl_ms
        updated_ms = created_ms
        if status == "expired":
            updated_ms = expires_ms
        elif status != "active":
            updated_ms = created_ms + int(rng.random() * (min(expires_ms, anchor_ms) - created_ms))
        suspended_at = deleted_at = None
        if rng.random() < 0.01:
            suspended_ms = created_ms + int(rng.random() * (anchor_ms - created_ms))
            suspended_at, updated_ms = _at(suspended_ms), max(updated_ms, suspended_ms)
        if rng.random() < 0.015:
            deleted_ms = created_ms + int(rng.random() * (anchor_ms - created_ms))
            deleted_at, updated_ms = _at(deleted_ms), max(updated_ms, deleted_ms)
        featured = rng.random() < 0.05
        batch.append(
            (
                _uuid7(rng, created_ms),
                owner_id,
                categories[index].id,
                listing.title[:120],
                listing.description,
                None if listing.price is None else Decimal(listing.price),
                listing.currency,
                province,
                place.locality,
                listing.condition,
                status,
                featured,
                _at(expires_ms),
                deleted_at,
                suspended_at,
                1,
                _at(created_ms),
                _at(updated_ms),
            )
        )
        if len(batch) == BATCH_SIZE:
            yield batch
            batch = []
    if batch:
        yield batch


# --------------------------------------------------------------------------------------------
# The command


async def _reference(connection: asyncpg.Connection) -> list[ReferenceCategory]:
    """The leaf categories this seed can fill, checking the reference data is in place."""
    try:
        rows = await connection.fetch("SELECT id, parent_id IS NOT NULL AS leaf, is_active FROM categories")
        provinces = {r["code"] for r in await connection.fetch("SELECT code FROM provinces")}
    except asyncpg.UndefinedTableError as exc:
        raise RuntimeError("run `rural24 migrate` first") from exc
    if not rows or not provinces:
        raise RuntimeError("run `rural24 migrate` first")
    missing = set(LOCALITIES) - provinces
    if missing:
        msg = f"provinces missing from the database: {sorted(missing)}; run `rural24 migrate` first"
        raise RuntimeError(msg)
    # asyncpg returns its own UUID type: compare by string form, which both spell the same way
    usable = {str(r["id"]) for r in rows if r["leaf"] and r["is_active"]}
    leaves = [c for c in leaf_categories() if str(c.id) in usable and c.slug in CATEGORY_SPECS]
    if not leaves:
        raise RuntimeError("none of the reference categories is in the database; run `rural24 migrate` first")
    return leaves


async def _insert_users(connection: asyncpg.Connection, sellers: Sequence[_Seller]) -> tuple[dict[str, uuid.UUID], int]:
    """COPY the sellers not there yet; return every seller's id by email, and how many were new."""
    ids: dict[str, uuid.UUID] = {}
    created = 0
    for start in range(0, len(sellers), BATCH_SIZE):
        chunk = sellers[start : start + BATCH_SIZE]
        rows = await connection.fetch(
            "SELECT email, id FROM users WHERE email = ANY($1::text[])", [s.email for s in chunk]
        )
        existing = {r["email"]: uuid.UUID(str(r["id"])) for r in rows}
        ids.update(existing)
        fresh = [s.row for s in chunk if s.email not in existing]
        if fresh:
            await connection.copy_records_to_table("users", records=fresh, columns=USER_COLUMNS)
            ids.update((row[1], row[0]) for row in fresh)
            created += len(fresh)
    return ids, created


async def _copy_ads(connection: asyncpg.Connection, batch: list[tuple[Any, ...]]) -> int:
    """COPY the ads of ``batch`` not there yet (an earlier run of the same seed, today)."""
    found = await connection.fetch("SELECT id FROM ads WHERE id = ANY($1::uuid[])", [row[0] for row in batch])
    if found:
        existing = {str(r["id"]) for r in found}
        batch = [row for row in batch if str(row[0]) not in existing]
    if batch:
        await connection.copy_records_to_table("ads", records=batch, columns=AD_COLUMNS)
    return len(batch)


def _progress_bar() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
    )


async def seed_demo_data(
    database_url: str,
    ads: int,
    seed: int,
    users: int | None = None,
    progress: bool = True,
    *,
    now: datetime | None = None,
) -> SeedReport:
    """Create ``users`` demo sellers (default ``max(10, ads // 50)``) and ``ads`` ads.

    ``database_url`` is any of our spellings (``postgresql+asyncpg://``, ``postgresql://``,
    unix sockets with ``?host=/dir``). ``now`` (tests) replaces the clock; the time window is
    anchored at its day's midnight UTC. Raises ``RuntimeError`` if the reference data is missing.
    """
    started = time.perf_counter()
    seller_count = users if users is not None else max(10, ads // 50)
    moment = now or datetime.now(UTC)
    anchor = moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    anchor_ms = (anchor - _EPOCH) // timedelta(milliseconds=1)

    connection: asyncpg.Connection = await asyncpg.connect(
        asyncpg_dsn(database_url),
        # Demo data can be regenerated: not waiting for each COPY's WAL flush is a free speed-up.
        server_settings={"synchronous_commit": "off", "application_name": "rural24-seed"},
    )
    try:
        categories = await _reference(connection)
        # One argon2 hash for everyone: hashing is deliberately slow (~50 ms), thousands would not be.
        password_hash = PasswordHasher().hash(DEMO_PASSWORD)
        sellers = _sellers(seed, seller_count, anchor_ms, password_hash)
        seller_ids, users_created = await _insert_users(connection, sellers)
        owners = [(seller_ids[s.email], s.province_code) for s in sellers]

        show = progress and ads >= PROGRESS_MIN_ROWS
        with _progress_bar() if show else _NoProgress() as bar:
            task = bar.add_task("ads", total=ads)
            ads_created = await _pipeline(connection, _ad_batches(seed, ads, anchor_ms, categories, owners), bar, task)
        if users_created or ads_created:
            # Fresh statistics now rather than whenever autovacuum gets to it: without them the
            # planner takes the bulk-loaded tables for nearly empty and picks plans to match.
            await connection.execute("ANALYZE users, ads")
    finally:
        await connection.close()
    return SeedReport(
        users_created=users_created,
        ads_created=ads_created,
        seconds=round(time.perf_counter() - started, 3),
        users_existing=seller_count - users_created,
        ads_existing=ads - ads_created,
    )


async def _pipeline(
    connection: asyncpg.Connection,
    batches: Iterator[list[tuple[Any, ...]]],
    bar: Progress | _NoProgress,
    task: TaskID,
) -> int:
    """COPY each batch while the next one is generated in a worker thread.

    PostgreSQL (computing the search document, maintaining eight indexes) and Python (building
    rows) then work at the same time, on two cores, instead of taking turns.
    """
    created = 0
    pending: asyncio.Task[int] | None = None
    pending_rows = 0
    done: list[tuple[Any, ...]] = []  # what next() returns once the generator is exhausted
    try:
        while True:
            batch = await asyncio.to_thread(next, batches, done)
            if pending is not None:
                created += await pending
                bar.advance(task, pending_rows)
                pending = None
            if batch is done:
                return created
            pending_rows = len(batch)
            pending = asyncio.create_task(_copy_ads(connection, batch))
    finally:
        # an error while generating: do not leave a COPY running on a connection about to close
        if pending is not None:
            pending.cancel()


class _NoProgress:
    """The part of ``rich.progress.Progress`` this module uses, drawing nothing."""

    def __enter__(self) -> _NoProgress:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def add_task(self, description: str, total: float | None = None) -> TaskID:
        return TaskID(0)

    def advance(self, task_id: TaskID, advance: float = 1) -> None:
        return None
