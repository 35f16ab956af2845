"""The ``export`` flow: each partner's KPI tables under ``<data>/exports/`` (``delivery.exports``).

It publishes nothing else (no Prefect artifact): the folders it returns are the delivery.
"""

from __future__ import annotations

from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from delivery.exports import Partner, export_partner, load_partners, select_partners
from flows.config import Settings
from flows.runs import flow_settings, recorded_run


@task(cache_policy=NO_CACHE, task_run_name="export {partner.partner_id}")
def export_one(settings: Settings, partner: Partner) -> Path:
    """One partner's day folder, swapped in whole. Local files only: not retried."""
    folder = export_partner(settings.warehouse, partner, settings.data_dir / "exports")
    get_run_logger().info("%s: %s", partner.partner_id, folder)
    return folder


@flow(name="export")
def export(
    partners: list[str] | None = None, config: str | None = None, data_dir: str | None = None
) -> list[Path]:
    """Write the partners' exports (default: every partner of partners.yml); return the folders.

    An unknown partner fails before anything is written or recorded in the run ledger.
    """
    chosen = select_partners(load_partners(), partners)
    settings = flow_settings(config, data_dir)
    with recorded_run(settings, [f"export.{partner.partner_id}" for partner in chosen]):
        return [export_one(settings, partner) for partner in chosen]
