"""Run reports: one self-contained ``report.html`` per run, and the model card.

``write_report`` reads a run back from ML Metadata and its artifacts (``collect``), draws the
figures (``plots``), renders the Jinja2 templates (``render``) and writes, atomically:

- ``<pipeline_root>/_runs/<run_id>/report.html``: Data, Training, Evaluation, Deployment
  and Model card sections; figures are inlined PNG data URIs, the CSS is inline, nothing is
  fetched from the network;
- ``<pipeline_root>/_runs/<run_id>/model_card.md``;
- ``<serving_root>/<model_name>/model_cards/<version>.md`` when the run pushed a version.

``dlpipe run`` writes the report after every run (``report_after_run``); ``dlpipe report``
writes it again for any past run.
"""

from __future__ import annotations

import dataclasses
import traceback
from pathlib import Path

from pipeline.config import PipelineConfig
from pipeline.summary import RunSummary

REPORT_FILE = "report.html"
CARD_FILE = "model_card.md"
ERROR_LOG = "report-error.log"


@dataclasses.dataclass
class ReportFiles:
    """What ``write_report`` wrote.

    Attributes:
      html: The report.
      model_card: The model card in the run's directory.
      served_model_card: The card beside the pushed versions, if the run pushed one.
    """

    html: Path
    model_card: Path
    served_model_card: Path | None = None


def write_report(config: PipelineConfig, run_id: str, summary: RunSummary | None = None,
                 failed_component: str | None = None, error: BaseException | None = None
                 ) -> ReportFiles:
    """Writes the report and model card of one run.

    Args:
      config: The pipeline config (where MLMD, the artifacts and the serving root are).
      run_id: The pipeline run id.
      summary: The run's summary if already read (``dlpipe run``).
      failed_component: The component that failed, when the caller knows it.
      error: The run's error, when the caller knows it.

    Returns:
      The paths written.
    """

    from components.pusher.push import read_push_record
    from dlpipe.files import write_atomically
    from pipeline.report.collect import collect, run_config, run_dir
    from pipeline.report.model_card import build_model_card, served_card_path
    from pipeline.report.plots import all_figures
    from pipeline.report.render import render_model_card, render_report

    facts = collect(config, run_id, summary, failed_component, error)
    task = facts.resolved_task  # None: collect noted it; the card says less
    _, config_data = run_config(config, run_id)
    card = build_model_card(facts, config, task, config_data)
    directory = run_dir(config, run_id)
    files = ReportFiles(directory / REPORT_FILE, directory / CARD_FILE)
    if card.version:
        version_dir = config.serving_model_dir / card.version
        # Only the run that pushed a version writes its card (a later cached run pushes
        # nothing and must not claim it).
        if read_push_record(version_dir).get("pipeline_run") == run_id:
            files.served_model_card = served_card_path(config, card.version)
    markdown = render_model_card(card)
    paths = [str(files.model_card)] + ([str(files.served_model_card)]
                                       if files.served_model_card else [])
    html = render_report(facts, all_figures(facts), card, paths)
    write_atomically(files.model_card, markdown)
    if files.served_model_card is not None:
        write_atomically(files.served_model_card, markdown)
    write_atomically(files.html, html)
    return files


def report_after_run(config: PipelineConfig, outcome, summary: RunSummary) -> Path | None:
    """Writes the report at the end of ``dlpipe run`` and prints its path.

    A failure prints one warning line (the traceback goes to ``report-error.log`` in the
    run's directory) and never changes the run's exit status.

    Args:
      config: The run's config.
      outcome: The ``pipeline.runner.RunOutcome``.
      summary: The run's summary.

    Returns:
      The report's path, or ``None`` if it could not be written.
    """
    try:
        files = write_report(config, outcome.run_id, summary, outcome.failed_component,
                             outcome.error)
    except Exception as e:  # the report must never fail the run
        log = Path(outcome.run_dir) / ERROR_LOG
        try:
            log.write_text(traceback.format_exc())
            where = f"; details in {log}"
        except OSError:
            where = ""
        first = (str(e).strip().splitlines() or [""])[0]
        print(f"  warning: report not written ({type(e).__name__}: {first}){where}")
        return None
    print(f"  report:    {files.html}")
    return files.html
