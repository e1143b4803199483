"""The ads context: its routes (ads, own ads and favorites, saved searches, moderation, images and
the local media files), its jobs (saved-search alerts, image processing, expiry) and their schedules."""

from __future__ import annotations

from litestar.types import ControllerRouterHandler

from infrastructure.media import LocalMediaStorage
from rural24.ads.http import (
    AdminAdsController,
    AdsController,
    AdsPorts,
    CategoryTrees,
    MyAdsController,
    SavedSearchesController,
)
from rural24.ads.image_jobs import process_ad_image, purge_media
from rural24.ads.images import images_controller, media_files_router
from rural24.ads.jobs import alert_saved_searches, daily_saved_search_alerts, expire_ads_job
from rural24.contexts import ContextPlugin, Scheduled, provide
from rural24.services import Services


def ads_plugin(services: Services) -> ContextPlugin:
    route_handlers: list[ControllerRouterHandler] = [
        AdsController,
        MyAdsController,
        SavedSearchesController,
        AdminAdsController,
        images_controller(services.settings.server.max_upload_body),
    ]
    if isinstance(services.media, LocalMediaStorage):
        route_handlers.append(media_files_router(services.media))
    ports = AdsPorts(
        reads=services.reads,
        media=services.media,
        settings=services.settings,
        limits=services.limits,
        idempotency=services.idempotency,
        category_trees=CategoryTrees(services.reads),
        hot_reads=services.hot_reads,
    )

    return ContextPlugin(
        name="ads",
        route_handlers=route_handlers,
        dependencies={"ads": provide(ports)},
        jobs=[alert_saved_searches, daily_saved_search_alerts, process_ad_image, expire_ads_job, purge_media],
        schedules=[
            Scheduled(expire_ads_job, "*/10 * * * *", timeout=300),
            # 08:00 in Argentina (UTC-3)
            Scheduled(daily_saved_search_alerts, "0 11 * * *", timeout=600),
        ],
    )
