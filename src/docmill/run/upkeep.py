"""End-of-run upkeep of the store and the embedding cache."""

from __future__ import annotations

from docmill.run.context import RunContext


def reconcile_store(ctx: RunContext) -> int:
    """Embedded store: delete points the catalog does not know (left by a run killed between a Qdrant write
    and the catalog commit, when the next run no longer makes those chunks). Counting is cheap; the full scan
    runs only when the counts disagree. Returns the number of points deleted."""
    if ctx.store.is_server:  # indexed filter deletes leave no strays; a shared server may hold other catalogs'
        return 0
    if ctx.store.count() == ctx.catalog.counts()["chunks"]:
        return 0
    return int(ctx.store.sweep(ctx.catalog.all_point_ids()))


def prune_cache(ctx: RunContext) -> int:
    """Drop cached vectors that no chunk has used for `embed.cache_keep_runs` runs; returns how many."""
    return ctx.catalog.prune_embeddings(ctx.settings.embed.cache_keep_runs)
