"""PostgreSQL: the primary (writes, advanced-alchemy), the read side (replica or primary, raw
asyncpg into read models), the embedded development server and the migrations runner."""
