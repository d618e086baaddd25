"""What of a student's notebook may reach a page a person opens (formgrader, the feedback), and in which form.

* Outputs: only stream text, ``text/plain`` and PNG images (checked to be PNG and re-encoded), within sizes; an
  error becomes one line of text. Nothing else (HTML, JavaScript, SVG, widgets, metadata) survives.
* Written answers: rendered from markdown to HTML, then passed through nh3 (the Rust ``ammonia`` sanitiser) with an
  allow-list of tags, attributes and URL schemes.
* The whole feedback page: nh3 again over its body, and a Content-Security-Policy that allows no script, no
  connection and no image other than inline data (see :mod:`autograder.nbgrader_feedback`).
"""
import base64
import binascii
import re

import nh3
import nbformat

MAX_TEXT = 10_000            # characters of one text output (the rest is cut, with a note)
MAX_IMAGE = 1_500_000        # bytes of one PNG
MAX_OUTPUTS = 20             # outputs kept per cell
MAX_TOTAL = 6_000_000        # bytes of outputs kept per notebook

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-_]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")

# What a written answer (and the feedback page) may contain: text structure, code, tables, links, images.
TAGS = {"a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "details", "div", "dl", "dt", "em", "h1", "h2",
        "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "ol", "p", "pre", "s", "samp", "small", "span",
        "strong", "sub", "summary", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "ul", "var",
        "mark", "caption", "colgroup", "col", "u"}
ATTRIBUTES = {"*": {"class", "id", "title"}, "a": {"href", "name"}, "img": {"src", "alt", "width", "height"},
              "td": {"colspan", "rowspan"}, "th": {"colspan", "rowspan"}, "ol": {"start"}}
LINK_SCHEMES = {"http", "https", "mailto"}
# A written answer keeps no class, id or style: it cannot borrow the page's own look (a fake "Hidden tests ... 15 /
# 15" block drawn in the feedback's style) nor be the target of the page's in-page links.
WRITTEN_ATTRIBUTES = {tag: names - {"class", "id", "style"} for tag, names in ATTRIBUTES.items()}
MAX_PIXELS, MAX_SIDE = 16_000_000, 4096      # decoded size of one image (the bytes may be few: PNG compresses)


def _attribute_filter(tag, attribute, value):
    """Links: http(s), mailto or in-page; images: inline PNG or JPEG only (no request leaves the page)."""
    if attribute == "src":
        return value if tag == "img" and re.fullmatch(r"data:image/(png|jpeg);base64,[A-Za-z0-9+/=\s]*", value) \
            else None
    if attribute == "href":
        scheme = re.match(r"\s*([A-Za-z][A-Za-z0-9+.-]*):", value)
        return value if scheme is None or scheme.group(1).lower() in LINK_SCHEMES else None
    if attribute in ("width", "height"):
        return value if value.isdigit() else None
    return value


def clean_html(html, attributes=ATTRIBUTES):
    """HTML from anything a student wrote, safe to put in a page: nh3 with this module's allow-lists."""
    return nh3.clean(html, tags=TAGS, attributes=attributes, url_schemes=LINK_SCHEMES | {"data"},
                     attribute_filter=_attribute_filter, link_rel="noopener noreferrer nofollow",
                     strip_comments=True)


def markdown_html(markdown_text):
    """A written answer as sanitised HTML, ready to be the source of a markdown cell: Jupyter's own markdown
    renderer, then :func:`clean_html`. The result has no blank line, so that a markdown renderer keeps it as one
    HTML block and renders nothing in it again."""
    from nbconvert.filters.markdown_mistune import markdown2html_mistune
    try:
        html = markdown2html_mistune(markdown_text)
    except Exception:  # a renderer bug must not cost the answer: show it as text
        html = "<pre>" + nh3.clean_text(markdown_text) + "</pre>"
    cleaned = clean_html(html, WRITTEN_ATTRIBUTES).strip()
    lines = [line if line.strip() else "&#8203;" for line in cleaned.splitlines()]
    return '<div class="rnnkit-written-answer">' + "\n".join(lines) + "</div>"


class OutputBudget:
    """Bytes of outputs one notebook may still carry."""

    def __init__(self, total=MAX_TOTAL):
        self.left = total

    def take(self, size):
        if size > self.left:
            return False
        self.left -= size
        return True


def safe_text(text, limit=MAX_TEXT):
    text = "".join(text) if isinstance(text, list) else str(text)
    text = _ANSI.sub("", text.replace("\r\n", "\n"))
    text = "\n".join(line.rsplit("\r", 1)[-1] for line in text.split("\n"))  # progress bars: the last state
    text = _CONTROL.sub("", text)
    if len(text) > limit:
        text = text[:limit] + f"\n[... {len(text) - limit} more characters not shown]\n"
    return text


def _png(data):
    """A PNG's canonical base64, or None when it is not a PNG within size."""
    if isinstance(data, list):
        data = "".join(data)
    if not isinstance(data, str) or len(data) > MAX_IMAGE * 4 // 3 + 16:
        return None
    try:
        raw = base64.b64decode("".join(data.split()), validate=True)
    except (binascii.Error, ValueError):
        return None
    if not raw.startswith(PNG_MAGIC) or len(raw) > MAX_IMAGE or not _small_enough(raw):
        return None
    return base64.b64encode(raw).decode("ascii")


def _small_enough(raw):
    """A PNG whose first chunk is a well-formed IHDR of at most MAX_SIDE x MAX_SIDE and MAX_PIXELS pixels: a few
    kilobytes can decode to 60,000 x 60,000 pixels in whatever opens the page."""
    if len(raw) < 33 or raw[12:16] != b"IHDR" or int.from_bytes(raw[8:12], "big") != 13:
        return False
    width, height = int.from_bytes(raw[16:20], "big"), int.from_bytes(raw[20:24], "big")
    if binascii.crc32(raw[12:29]) != int.from_bytes(raw[29:33], "big"):
        return False
    return 0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE and width * height <= MAX_PIXELS


def safe_outputs(outputs, budget=None):
    """The student's outputs of one code cell, reduced to safe kinds and sizes (see the module's docstring)."""
    budget = budget or OutputBudget()
    kept = []
    for output in outputs if isinstance(outputs, list) else []:
        if len(kept) >= MAX_OUTPUTS:
            note = "[more outputs not shown]\n"
            if budget.take(len(note)):
                kept.append(nbformat.v4.new_output("stream", name="stdout", text=note))
            break
        if not isinstance(output, dict):
            continue
        kind = output.get("output_type")
        new = None
        if kind == "stream":
            text = safe_text(output.get("text", ""))
            new = nbformat.v4.new_output("stream", name="stderr" if output.get("name") == "stderr" else "stdout",
                                         text=text)
            size = len(text)
        elif kind in ("execute_result", "display_data"):
            data = output.get("data") if isinstance(output.get("data"), dict) else {}
            clean = {}
            if "image/png" in data:
                png = _png(data["image/png"])
                if png:
                    clean["image/png"] = png
            if "text/plain" in data:
                clean["text/plain"] = safe_text(data["text/plain"])
            size = sum(len(v) for v in clean.values())
            new = nbformat.v4.new_output("display_data", data=clean) if clean else None
        elif kind == "error":
            text = safe_text(f"{output.get('ename', 'Error')}: {output.get('evalue', '')}", limit=500) + "\n"
            new = nbformat.v4.new_output("stream", name="stderr", text=text)
            size = len(text)
        if new is not None and budget.take(size):
            kept.append(new)
    return kept
