"""A small one-page PDF (ASCII text, standard Helvetica) for tests and the `make run` demo.

Written by hand, not by a PDF library, so the sealing tests start from a plain classic-xref
file like an issuing system's, and nothing in it depends on the library under test.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import click

DEFAULT_LINES: tuple[str, ...] = (
    "Copy of the resident record - demo",
    "Issued by: demo municipality 131016",
    "Name: TEST RESIDENT - synthetic, no real person",
    "Address: 1-1 Demo-cho, Chiyoda-ku",
)


def demo_pdf(lines: Sequence[str] = DEFAULT_LINES) -> bytes:
    """A valid A4 PDF 1.7 whose only page shows `lines` (ASCII) from the top."""
    for line in lines:
        if not line.isascii() or any(c in line for c in "()\\\r\n"):
            raise ValueError(f"demo text must be plain ASCII without ()\\ or newlines: {line!r}")
    text = ["BT", "/F1 14 Tf", "72 770 Td", "18 TL"]
    text += [f"({line}) '" for line in lines]
    text.append("ET")
    content = "\n".join(text).encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content),
    ]
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


@click.command("demo-pdf")
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--line", "lines", multiple=True, help="A line of ASCII text (repeatable).")
def demo_pdf_command(out: Path, lines: tuple[str, ...]) -> None:
    """Write a one-page demo certificate PDF to OUT."""
    try:
        out.write_bytes(demo_pdf(lines or DEFAULT_LINES))
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(f"cannot write {out}: {exc.strerror}") from None


if __name__ == "__main__":
    demo_pdf_command()
