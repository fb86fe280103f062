"""The after-action report as a PDF (fpdf2), with the same charts as the page.

DejaVu Sans (vendored under static/vendor/dejavu) is embedded, so names and notes in any script
a team writes in come out as written, not as question marks.
"""

import io
from pathlib import Path

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from detail.domain.after_action import FONT, Report, punctuality_svg, timeline_svg
from detail.models import AfterAction

FONT_DIR = Path(__file__).resolve().parents[2] / "static" / "vendor" / "dejavu"


class _Pdf(FPDF):
    def __init__(self, title: str):
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.title_text = title
        self.add_font(FONT, "", str(FONT_DIR / "DejaVuSans.ttf"))
        self.add_font(FONT, "B", str(FONT_DIR / "DejaVuSans-Bold.ttf"))
        self.set_auto_page_break(auto=True, margin=15)
        self.set_title(title)
        self.set_creator("Oscar Mike")

    def footer(self):
        self.set_y(-12)
        self.set_font(FONT, size=8)
        self.cell(0, 5, f"{self.title_text} · page {self.page_no()}/{{nb}}", align="C")

    def heading(self, text: str, size: int = 13):
        self.ln(2)
        self.set_font(FONT, "B", size)
        self.multi_cell(0, 7, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_font(FONT, size=10)

    def para(self, text: str):
        self.set_font(FONT, size=10)
        self.multi_cell(0, 5, text or "—", new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def rows(self, widths: list[int], header: list[str], rows: list[list[str]]):
        self.set_font(FONT, "B", 9)
        for width, text in zip(widths, header, strict=True):
            self.cell(width, 6, text, border="B")
        self.ln()
        self.set_font(FONT, size=9)
        for row in rows:
            if self.get_y() > self.h - 25:
                self.add_page()
            for width, text in zip(widths, row, strict=True):
                self.cell(width, 5.5, _fit(self, text, width))
            self.ln()

    def chart(self, svg: str):
        if self.get_y() > self.h - 70:
            self.add_page()
        self.image(io.BytesIO(svg.encode()), w=self.epw)
        self.ln(2)


def _fit(pdf: FPDF, text: str, width: float) -> str:
    """Cut text to the column, with an ellipsis, rather than overprint the next one."""
    if pdf.get_string_width(text) <= width - 1:
        return text
    while text and pdf.get_string_width(text + "…") > width - 1:
        text = text[:-1]
    return text + "…"


def render(report: Report, after: AfterAction | None) -> bytes:
    detail = report.detail
    pdf = _Pdf(f"After-action report: {detail.name}")
    pdf.alias_nb_pages()
    pdf.add_page()
    pdf.heading(f"After-action report: {detail.name}", 16)
    lead = detail.lead
    pdf.para(
        f"{detail.client.name} · {report.local(detail.starts_at)} – {report.local(detail.ends_at)} ({report.zone})"
        + (f" · Lead {lead.call_sign} ({lead.name})" if lead else "")
    )

    if report.status_line:
        pdf.para(report.status_line)
    # Only sections with something to say: no heading over an empty chart or list.
    if report.entries:
        pdf.heading("Timeline")
        pdf.chart(timeline_svg(report))
    if report.anyone_due:
        _punctuality(pdf, report)
    if report.shows_alerts_and_requests:
        _alerts_and_requests(pdf, report)
    _teams_account(pdf, after)
    if report.entries:
        pdf.heading("Record")
        for entry in report.entries:
            pdf.set_font(FONT, size=8)
            pdf.multi_cell(
                0, 4, f"{report.local(entry.at, '%d %b %H:%M')}  {entry.text}", new_x=XPos.LMARGIN, new_y=YPos.NEXT
            )
    return bytes(pdf.output())


def _punctuality(pdf: _Pdf, report: Report) -> None:
    pdf.heading("Punctuality")
    pdf.chart(punctuality_svg(report))
    pdf.rows(
        [30, 45, 35, 35, 35],
        ["Agent", "Role", "Report time", "On station", "Difference"],
        [
            [
                p.call_sign,
                p.role,
                report.local(p.report_at, "%d %b %H:%M"),
                report.local(p.on_station_at, "%d %b %H:%M"),
                p.verdict(report.now),
            ]
            for p in report.punctuality
        ],
    )


def _alerts_and_requests(pdf: _Pdf, report: Report) -> None:
    pdf.heading("Alerts and acknowledgments")
    if report.alerts:
        pdf.rows(
            [22, 22, 70, 28, 38],
            ["Raised", "Agent", "Alert", "Acknowledged", "By"],
            [
                [
                    report.local(a.raised_at, "%H:%M"),
                    a.call_sign,
                    a.message,
                    "—" if a.acknowledged_at is None else f"after {a.minutes_to_acknowledge:.0f} min",
                    a.acknowledged_by or "—",
                ]
                for a in report.alerts
            ],
        )
    else:
        pdf.para("No alerts.")

    pdf.heading("Client requests")
    if report.requests:
        pdf.rows(
            [24, 80, 18, 29, 29],
            ["Received", "Request", "Priority", "Acknowledged", "Answered"],
            [
                [
                    report.local(r.received_at, "%d %b %H:%M"),
                    r.subject,
                    r.priority,
                    _after(r.received_at, r.acknowledged_at),
                    _after(r.received_at, r.answered_at),
                ]
                for r in report.requests
            ],
        )
    else:
        pdf.para("No requests about this detail.")


def _teams_account(pdf: _Pdf, after: AfterAction | None) -> None:
    words = [
        ("What went well", after.went_well if after else ""),
        ("Difficulties", after.difficulties if after else ""),
        ("Lessons learned", after.lessons if after else ""),
    ]
    if any(text for _, text in words):
        for heading, text in words:
            pdf.heading(heading)
            pdf.para(text)
    else:
        pdf.heading("The team's account")
        pdf.para("Not written yet.")
    pdf.heading("Action items")
    items = after.items if after else []
    if items:
        pdf.rows(
            [95, 40, 25, 20],
            ["Action", "Owner", "Due", "Done"],
            [
                [i.text, i.owner.name if i.owner else "—", i.due_on.isoformat(), "yes" if i.done else "no"]
                for i in items
            ],
        )
    else:
        pdf.para("None.")


def _after(start, end) -> str:
    if end is None:
        return "—"
    return f"{(end - start).total_seconds() / 60:.0f} min"
