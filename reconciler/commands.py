"""`crmsync reconcile` (compare, and with --repair re-apply the owner's state) and `crmsync reconcile report`."""

from __future__ import annotations

import csv
import io
import json

import click

from crmsync.cli import load_config
from reconciler.kinds import KINDS


def _progress_line(progress) -> None:
    click.echo(f"\r  {progress.phase:<7} {progress.name:<18} page {progress.page:>5}  "
               f"{progress.differences:>6} differences found", nl=False, err=True)


def summary_table(run: dict) -> str:
    """Counts per kind of difference and entity, and what the run took."""
    entities = sorted({entity for per in run["counts"].values() for entity in per})
    lines = []
    if entities:
        width = max(len(kind) for kind in KINDS)
        lines.append(f"{'difference':<{width}}  " + "  ".join(f"{e:>10}" for e in entities) + f"  {'total':>7}")
        for kind in KINDS:
            per = run["counts"].get(kind, {})
            if per:
                lines.append(f"{kind:<{width}}  " + "  ".join(f"{per.get(e, 0):>10}" for e in entities)
                             + f"  {sum(per.values()):>7}")
    else:
        lines.append("no differences: the CRM holds what Moodle's state says")
    took = f"{run['duration_seconds']:.1f}s" if run["duration_seconds"] is not None else "not finished"
    lines.append(f"run {run['id']} ({run['status']}, site {run['site_id']}): {took}, "
                 f"{run['requests'].get('moodle', 0)} Moodle and {run['requests'].get('crm', 0)} CRM requests")
    return "\n".join(lines)


@click.group("reconcile", invoke_without_command=True)
@click.option("--repair", is_flag=True, help="Re-apply the owning side's state for the differences found.")
@click.option("--dry-run", is_flag=True, help="With --repair: show what would be done, change nothing.")
@click.option("--kind", "kinds", multiple=True, type=click.Choice(KINDS),
              help="Repair only differences of this kind (repeatable).")
@click.option("--restart", is_flag=True, help="Start over instead of going on with an interrupted run.")
@click.pass_context
def reconcile(ctx: click.Context, repair: bool, dry_run: bool, kinds: tuple[str, ...], restart: bool) -> None:
    """Compare the whole Moodle site with the CRM and store the report (`reconcile report` shows it)."""
    if ctx.invoked_subcommand is not None:
        return
    from crmsync import db
    from reconciler import repair as repairing
    from reconciler import report
    from reconciler.run import RunInProgress
    from reconciler.run import reconcile as run_reconciliation

    settings = load_config(ctx)
    try:
        run_id = run_reconciliation(settings, "cli", resume=not restart, progress=_progress_line, dry_run=dry_run)
    except RunInProgress as exc:
        raise click.ClickException(f"{exc}; try again when it has finished") from None
    click.echo("", err=True)
    with db.session_scope(settings.database_url) as session:
        click.echo(summary_table(report.as_dict(session.get(report.ReconcileRun, run_id))))
        if repair:
            actions = repairing.repair(session, settings, run_id, kinds=kinds or None, dry_run=dry_run)
            click.echo(("would repair" if dry_run else "repaired") + f" {len(actions)} differences:")
            for action in actions:
                click.echo(f"  #{action['difference']} {action['action']}: {action['note']}")


@reconcile.command("report")
@click.argument("run_id", required=False, type=int)
@click.option("--format", "output", type=click.Choice(["table", "csv", "json"]), default="table",
              show_default=True)
@click.pass_context
def show_report(ctx: click.Context, run_id: int | None, output: str) -> None:
    """Show a run's report (the newest without RUN_ID): the summary, or every difference as CSV or JSON."""
    from crmsync import db
    from reconciler import report

    settings = load_config(ctx)
    with db.session_scope(settings.database_url) as session:
        run = session.get(report.ReconcileRun, run_id) if run_id else report.latest(session)
        if run is None:
            raise click.ClickException(f"no reconciliation run {run_id}" if run_id else "no reconciliation has run")
        rows = [report.difference_dict(d) for d in report.differences(session, run.id)]
        if output == "json":
            click.echo(json.dumps({"run": report.as_dict(run), "differences": rows}, indent=2))
        elif output == "csv":
            click.echo(differences_csv(rows), nl=False)
        else:
            click.echo(summary_table(report.as_dict(run)))
            for row in rows:
                values = (f" Moodle {row['moodle_value']!r}, CRM {row['crm_value']!r}"
                          if row["kind"] == "field_differs" else "")
                click.echo(f"  #{row['id']} {row['kind']} {row['key']} {row['crm_module']} {row['crm_id'] or ''}"
                           f"{' ' + row['field'] if row['field'] else ''}{values}")


def differences_csv(rows: list[dict]) -> str:
    from reconciler.report import DIFFERENCE_COLUMNS

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=DIFFERENCE_COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


COMMANDS = [reconcile]
