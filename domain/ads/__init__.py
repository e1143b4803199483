"""Ads: publishing, search, images, favorites, reports, saved searches and the ad lifecycle."""
