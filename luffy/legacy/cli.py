"""``flask users import-django``: parses its arguments, runs :mod:`luffy.legacy.importer`,
shows progress on a terminal (tqdm: count, rate, time left) and the summary either way.

Exit codes: 0 done and nothing to report, 1 done with a report, 2 could not run (the
batch that failed left nothing behind; batches before it are kept, and a new run goes on).
"""

import json
import sys

import click
from flask.cli import with_appcontext
from sqlalchemy.exc import SQLAlchemyError
from tqdm import tqdm

from luffy.legacy.importer import BATCH, Importer
from luffy.legacy.source import Source, SourceError, describe


@click.command("import-django")
@click.argument("source")
@click.option("--table", default="lf_users", show_default=True, help="the old accounts table")
@click.option("--media-url", default=None,
              help="prefix of a stored relative avatar path (the old MEDIA_URL, absolute)")
@click.option("--dry-run", is_flag=True, help="read and check everything, write nothing")
@click.option("--report", "report_path", type=click.Path(dir_okay=False, writable=True),
              help="write each conflict as a JSON line here (default: standard error)")
@click.option("--batch", default=BATCH, show_default=True, type=click.IntRange(1, 100_000),
              help="accounts a transaction")
@with_appcontext
def import_django(source, table, media_url, dry_run, report_path, batch):
    """Import the old Django backend's accounts from SOURCE (a database URL), again and
    again until the switch: ids, password hashes and profiles are kept; the old
    backend's blacklisted refresh tokens come along."""
    out = open(report_path, "w", encoding="utf-8") if report_path else sys.stderr

    def report(line):
        out.write(json.dumps(line, ensure_ascii=False, default=str) + "\n")

    importer = None
    try:
        old = Source(source, table)
        has_blacklist = old.check()
        importer = Importer(old, media_url=media_url, dry_run=dry_run, report=report, batch=batch)
        with tqdm(total=old.count(), unit=" accounts", disable=not sys.stderr.isatty(),
                  file=sys.stderr) as bar:
            importer.accounts(progress=bar.update)
        if has_blacklist:
            importer.blacklist()
    except SourceError as e:
        _fail(str(e), importer, dry_run)
    except SQLAlchemyError as e:
        _fail(f"the import stopped: {describe(e)}; the batch it was writing left nothing "
              "behind, and a new run goes on from where this one stopped", importer, dry_run)
    except KeyboardInterrupt:
        _fail("interrupted: the batch being written left nothing behind; a new run goes on "
              "from where this one stopped", importer, dry_run)
    finally:
        if report_path:
            out.close()
        if importer is not None and dry_run:
            importer.finish()
    _summary(importer, dry_run)
    sys.exit(1 if importer.summary.reported else 0)


def _summary(importer, dry_run):
    s = importer.summary
    click.echo(f"{'dry run, nothing written: ' if dry_run else ''}imported {s.imported}, "
               f"updated {s.updated}, unchanged {s.unchanged}, conflicts {s.conflicts} "
               f"({s.reported} report lines); blacklisted refresh tokens {s.tokens}")


def _fail(message, importer, dry_run):
    if importer is not None:
        _summary(importer, dry_run)
    click.echo(f"error: {message}", err=True)
    sys.exit(2)
