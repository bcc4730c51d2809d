"""Template filters for the pages; each delegates to the one function that decides the format."""
from django import template

from marketplace.catalogue.display import display_title, price_text
from marketplace.pages.progress import job_progress

register = template.Library()

register.filter("display_title", display_title)
register.filter("price", price_text)


@register.filter
def match_percent(score) -> str:
    """A similarity score (cosine, -1..1) as the percentage people read: `87% match`."""
    try:
        value = max(0.0, min(1.0, float(score)))
    except (TypeError, ValueError):
        return ""
    return f"{round(value * 100)}% match"


@register.filter
def duration(ms) -> str:
    """Milliseconds as `350 ms` or `2.4 s`."""
    if ms is None:
        return ""
    ms = float(ms)
    return f"{ms:.0f} ms" if ms < 1000 else f"{ms / 1000:.1f} s"


@register.filter
def progress(job):
    """`{% with p=job|progress %}`: the job's state in words and its stages (marketplace.pages.progress)."""
    return job_progress(job)
