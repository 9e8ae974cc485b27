"""Rendering: the Jinja2 templates under ``templates/`` filled with report facts."""

from __future__ import annotations

from pathlib import Path

from pipeline.report.facts import ReportFacts
from pipeline.report.model_card import ModelCard
from pipeline.report.plots import Figures

TEMPLATES = Path(__file__).resolve().parent / "templates"
REPORT_TEMPLATE = "report.html.j2"
CARD_TEMPLATE = "model_card.md.j2"


def number(value, spec: str = ".4f") -> str:
    """``value`` formatted with ``spec``; a dash for ``None``."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return format(value, spec)
    return str(value)


def inline_code(text: str):
    """Escapes ``text`` for HTML and shows Markdown's `code` spans as ``<code>``."""
    import re

    import markupsafe

    escaped = str(markupsafe.escape(text))
    return markupsafe.Markup(re.sub(r"`([^`<>]+)`", r"<code>\1</code>", escaped))


def _environment(html: bool):
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=html,
        undefined=jinja2.StrictUndefined,  # a typo in a template fails the tests
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["num"] = number
    env.filters["inline_code"] = inline_code
    return env


def render_report(facts: ReportFacts, figures: Figures, card: ModelCard,
                  card_paths: list[str]) -> str:
    """The self-contained HTML report (figures inlined as data URIs).

    Args:
      facts: What the report shows.
      figures: The figures drawn from ``facts``.
      card: The model card shown in the last section.
      card_paths: Where the card is also written as Markdown.
    """
    return _environment(html=True).get_template(REPORT_TEMPLATE).render(
        facts=facts, summary=facts.summary, figures=figures, card=card, card_paths=card_paths)


def render_model_card(card: ModelCard) -> str:
    """The model card as Markdown."""
    return _environment(html=False).get_template(CARD_TEMPLATE).render(card=card)
