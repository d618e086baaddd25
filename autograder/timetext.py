"""Times and lateness as a person reads them: one wording for the autograde line, the report, the CSVs, collect and
the extension command."""
import datetime


def when(value):
    """A gradebook time (naive UTC) as text, or ''."""
    if not isinstance(value, datetime.datetime):
        return ""
    return value.strftime("%Y-%m-%d %H:%M:%S UTC")


def late_text(seconds):
    """``late by 6 min 40 s`` / ``late by 2 d 3 h``: lateness as a person reads it."""
    seconds = int(round(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{days} d"] * bool(days) + [f"{hours} h"] * bool(hours) + [f"{minutes} min"] * bool(minutes)
    parts = parts[:2] if parts else [f"{secs} s"]
    if not days and not hours and minutes and secs:
        parts.append(f"{secs} s")
    return "late by " + " ".join(parts)
