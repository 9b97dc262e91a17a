"""A plan as a tree of sections, read with markdown-it-py (the parser the surface lint uses).

Only what drafting needs is kept, in document order: text blocks (paragraphs and list entries, with
their code spans and list depth), fences (language and code) and the line each starts on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# "3.3.1 Title", "3.1. Title", "3) Title", "Step 2: Title", "Task 2.1 — Title", "§4 Title"
_NUMBERED = re.compile(
    r"^\s*(?:(?:step|task|item|requirement|change|part|section|phase|§)\s*)?"
    r"(\d{1,3}(?:\.\d{1,3}){0,4})(?:[.)]|(?=\s|[:：]))\s*(?:[:：.\-—–]\s*)?(\S.*)$", re.I)
# an ordered-list entry that is only a bold phrase: the plan states separate requirements under it
_PSEUDO_HEADING = re.compile(r"^\*\*([^*\n]{2,200})\*\*\s*[:：。.]?\s*$")


@dataclass
class Block:
    kind: str                 # "text", "fence" or "pseudo_heading"
    text: str                 # inline Markdown (code spans keep their backticks) or the fence's code
    line: int                 # 1-based line in the plan
    info: str = ""            # a fence's language
    depth: int = 0            # list nesting (0: a paragraph)
    bullet: bool = False      # the first paragraph of a list entry
    spans: tuple[str, ...] = ()   # inline code spans
    opened: int = 0           # a fence's opening line (`line` is its first line of code)


@dataclass
class Section:
    title: str
    level: int
    line: int
    number: str = ""
    blocks: list[Block] = field(default_factory=list)
    tables: list[tuple[int, list[str]]] = field(default_factory=list)   # (line, cells) of each table row
    children: list["Section"] = field(default_factory=list)
    parent: "Section | None" = field(default=None, repr=False)

    def walk(self):
        yield self
        for child in self.children:
            yield from child.walk()

    def all_blocks(self):
        """This section's blocks and its descendants', in document order."""
        for section in self.walk():
            yield from section.blocks


_CJK = "\u3400-\u9fff"
# "中文标题 / English title", "中文标题（English title）" and the other way round
_BILINGUAL = [
    re.compile(rf"^(?P<zh>[^/｜|]*[{_CJK}][^/｜|]*?)\s*[/｜|]\s*(?P<en>[A-Za-z][^{_CJK}/｜|]*[A-Za-z.)`])\s*$"),
    re.compile(rf"^(?P<en>[A-Za-z][^{_CJK}/｜|]*?)\s*[/｜|]\s*(?P<zh>[^/｜|]*[{_CJK}][^/｜|]*)$"),
    re.compile(rf"^(?P<zh>.*[{_CJK}].*?)\s*[（(](?P<en>[A-Za-z][^{_CJK}（）()]*\s[^{_CJK}（）()]*)[）)]\s*$"),
    re.compile(rf"^(?P<en>[A-Za-z][^{_CJK}（）()]*\s[^{_CJK}（）()]*?)\s*[（(](?P<zh>[^（）()]*[{_CJK}][^（）()]*)[）)]\s*$"),
]


def bilingual(title: str) -> dict[str, str] | None:
    """{"zh": ..., "en": ...} when a heading gives both languages; None otherwise."""
    for pattern in _BILINGUAL:
        match = pattern.match(title.strip())
        if match and match.group("zh").strip() and match.group("en").strip():
            return {"zh": match.group("zh").strip(), "en": match.group("en").strip()}
    return None


def heading_number(text: str) -> tuple[str, str]:
    match = _NUMBERED.match(text)
    if not match:
        return "", text.strip()
    return match.group(1).rstrip("."), match.group(2).strip()


def pseudo_heading(text: str) -> str | None:
    match = _PSEUDO_HEADING.match(text.strip())
    return match.group(1).strip() if match else None


_MARKDOWN = None


def _parser():
    global _MARKDOWN
    if _MARKDOWN is None:
        from markdown_it import MarkdownIt

        _MARKDOWN = MarkdownIt("commonmark").enable("table")   # plans state priorities in tables
    return _MARKDOWN


def read_outline(text: str) -> Section:
    """The document as a root section (level 0) holding the heading tree."""
    tokens = _parser().parse(text)
    root = Section(title="", level=0, line=1)
    current = root
    depth = 0
    entry_open = False      # the next paragraph is the first of a list entry
    ordered: list[bool] = []
    row: list[str] | None = None      # the cells of the table row being read
    index = 0
    while index < len(tokens):
        token = tokens[index]
        kind = token.type
        line = (token.map[0] + 1) if token.map else 0
        if kind == "heading_open":
            inline = tokens[index + 1]
            level = int(token.tag[1:])
            number, title = heading_number(inline.content)
            while current.level >= level and current.parent is not None:
                current = current.parent
            section = Section(title=title, level=level, line=line, number=number, parent=current)
            current.children.append(section)
            current = section
            index += 3
            continue
        if kind in ("bullet_list_open", "ordered_list_open"):
            depth += 1
            ordered.append(kind == "ordered_list_open")
        elif kind in ("bullet_list_close", "ordered_list_close"):
            depth -= 1
            ordered.pop()
        elif kind == "list_item_open":
            entry_open = True
        elif kind == "tr_open":
            row = []
        elif kind == "tr_close" and row is not None:
            current.tables.append((line or current.line, row))
            row = None
        elif kind == "inline" and row is not None:
            row.append(token.content.strip())
        elif kind == "inline":
            spans = tuple(child.content for child in (token.children or []) if child.type == "code_inline")
            content = token.content
            block_kind = "text"
            if entry_open and depth == 1 and ordered and ordered[-1] and pseudo_heading(content):
                block_kind = "pseudo_heading"
            current.blocks.append(Block(block_kind, content, line, depth=depth, bullet=entry_open, spans=spans))
            entry_open = False
        elif kind in ("fence", "code_block"):
            info = (token.info or "").strip().split(" ")[0].lower() if kind == "fence" else ""
            # the code starts on the line after the opening fence
            current.blocks.append(Block("fence", token.content, line + (1 if kind == "fence" else 0), info=info,
                                        depth=depth, opened=line))
            entry_open = False
        index += 1
    return root
