"""Generate demo/corpus/policies/travel-and-expense-policy.pdf without third-party libraries.

The PDF is written object by object: catalog, page tree, one page per ~50 lines, the standard
Helvetica and Helvetica-Bold Type1 fonts, one content stream per page, an /Info dictionary with
the title, the xref table and the trailer. The policy text is fictional (Kumo Logistics) and lives
in this file.

Usage: python demo/make_pdf.py [output.pdf]
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

TITLE = "Kumo Logistics Travel and Expense Policy (FIN-020)"
OUTPUT = Path(__file__).resolve().parent / "corpus" / "policies" / "travel-and-expense-policy.pdf"

# Lines starting with "# " are headings (bold); blank lines separate paragraphs; "- " starts a
# bullet. Everything else is wrapped at WRAP characters.
TEXT = """\
# Kumo Logistics Travel and Expense Policy

Policy number: FIN-020. Version 4.0, effective 1 April 2024. Owner: Finance and Accounting \
Department. Applies to all directors, employees, contract and temporary staff of Kumo Logistics \
Co., Ltd. in Tokyo, Osaka and at every warehouse.

# 1. Purpose

This policy explains how business trips are approved and booked, which costs the company pays, \
and how employees claim reimbursement. The aim is to keep travel safe and simple for employees \
while spending the company's money carefully. All amounts are in Japanese yen (JPY) and include \
consumption tax.

# 2. Travel approval

- Every business trip needs a Travel Request approved by your manager before booking. Submit it \
in the Travel portal at https://portal.kumo-logistics.example/travel.
- Domestic trips: submit the request at least 3 business days before departure.
- Overseas trips: submit the request at least 14 days before departure. The department head \
must also approve, and General Affairs (ext. 2300) arranges overseas travel insurance.
- Before an overseas trip, register your itinerary and hotel in the Travel portal so that the \
company can contact you in an emergency, and follow the rules for laptops and VPN use in the \
Information Security Policy (ISP-001).

# 3. Booking

Book train tickets, flights and hotels through the Travel portal once the Travel Request is \
approved. Bookings made in the portal are paid directly by the company and do not need an \
expense claim. If the portal cannot be used, for example for a local hotel that is not listed, \
you may book yourself and claim the cost in KumoExpense with the receipt. Flights should be \
booked at least 7 days before departure to use cheaper fares.

# 4. Transport

- Shinkansen and limited express trains: ordinary reserved seats. Green Car seats are allowed \
only for executive officers.
- Flights: economy class. Department heads and above may use business class on overseas \
flights longer than 8 hours with the approval of an executive officer.
- Local transport: use trains and buses where possible. Fares may be supported by the usage \
history of your IC card (Suica, ICOCA or similar).
- Taxis: allowed when no public transport is available, when carrying heavy or valuable goods, \
between 22:00 and 6:00, or when travelling with a customer. Write the reason in the claim.
- Private cars may be used for business only with prior approval of the department head. \
Mileage is reimbursed at 25 JPY per km; fuel and tolls are not claimed separately.

# 5. Accommodation

Hotels are reimbursed at actual cost up to the nightly limits below, including breakfast. \
Costs above the limit are paid by the employee unless the department head approves them in \
advance, for example during large exhibitions.

- Domestic, standard: up to 12,000 JPY per night.
- Domestic, Tokyo 23 wards, Osaka City, Nagoya City and Fukuoka City: up to 14,000 JPY per night.
- Overseas, Asia: up to 25,000 JPY per night.
- Overseas, other regions: up to 30,000 JPY per night.

# 6. Per diem

The per diem is a fixed daily allowance for meals and small incidental costs. It is paid \
automatically from the approved Travel Request and needs no receipts. Meals paid for by a \
customer or included in a conference fee are not deducted.

- Domestic day trip of 100 km or more one way: 1,500 JPY per day.
- Domestic trip with an overnight stay: 3,000 JPY per day, including the days of departure \
and return.
- Overseas trip, Asia: 6,000 JPY per day.
- Overseas trip, other regions: 8,000 JPY per day.

# 7. Other business expenses

- Customer entertainment and gifts need the prior approval of your manager. The limit is \
10,000 JPY per person per occasion; anything above needs the department head (see the Code \
of Conduct, GEN-001). Record the names and companies of all attendees in the claim.
- Internal team meals are paid only from the department's approved budget.
- Books, seminars and courses are claimed under the training budget of 100,000 JPY per \
employee per fiscal year, after a Training Request has been approved in the HR Portal.
- Home internet and utilities are covered by the remote work allowance (Remote Work Policy, \
HR-010) and cannot be claimed as expenses.
- Personal costs, such as alcohol outside customer entertainment, minibar items, laundry on \
trips shorter than 5 nights, and traffic or parking fines, are never reimbursed.

# 8. Receipts

A receipt is required for every expense except public transport fares and the per diem. The \
receipt must show the date, the shop or supplier, the amount and what was bought. For \
purchases of 30,000 JPY or more, a qualified invoice (tekikaku seikyusho) with the supplier's \
registration number is required. Take a clear photo of the receipt with the KumoExpense \
mobile app or scan it and attach it to the claim. Keep the paper original for 30 days after \
the claim is approved in case Finance asks for it; after that it may be discarded. If a \
receipt is lost, attach a signed Missing Receipt Declaration approved by your manager.

# 9. Approval limits

Each claim is approved in KumoExpense according to its total amount:

- Up to 50,000 JPY: your manager.
- More than 50,000 JPY and up to 300,000 JPY: your manager and the department head.
- More than 300,000 JPY and up to 1,000,000 JPY: additionally the division director \
(executive officer).
- More than 1,000,000 JPY: additionally the Chief Financial Officer (CFO).

An approver may not approve their own expenses or those of a close relative. Splitting one \
expense into several claims to stay below a limit is a violation of this policy.

# 10. Submission deadlines and reimbursement

- Submit claims in KumoExpense (https://portal.kumo-logistics.example/expense) by the 5th \
business day of the month after the expense was incurred.
- Claims approved by the 10th of the month are reimbursed with that month's salary on the \
25th. Later approvals are paid with the following month's salary.
- Claims submitted more than 60 days after the expense need a written explanation and the \
approval of the department head. Claims older than 6 months are not reimbursed.
- Advances for long overseas trips can be requested in KumoExpense 10 business days before \
departure and must be settled within 2 weeks after return.

# 11. Corporate card

Employees who travel at least twice a month may apply for a Kumo corporate card through the \
Finance and Accounting Department. Card transactions appear in KumoExpense automatically, but \
each transaction still needs a receipt and a business purpose. The card must not be used for \
personal purchases, even if they are repaid later.

# 12. Contacts

- Expense claims, KumoExpense and the corporate card: Finance and Accounting Department, ext. \
2400, expense@kumo-logistics.example
- Travel portal, insurance and overseas travel registration: General Affairs Department, ext. \
2300, facilities@kumo-logistics.example
- Login problems with the portal: IT Help Desk, ext. 2100, it-help@kumo-logistics.example
"""

PAGE_WIDTH, PAGE_HEIGHT = 595, 842  # A4 in points
MARGIN_LEFT, MARGIN_TOP, MARGIN_BOTTOM = 64, 64, 64
FONT_SIZE, HEADING_SIZE, LEADING = 10, 12, 14
WRAP = 90
LINES_PER_PAGE = (PAGE_HEIGHT - MARGIN_TOP - MARGIN_BOTTOM) // LEADING


def layout(text: str) -> list[tuple[str, str]]:
    """Return (style, line) pairs; style is "h" (heading), "p" (body) or "" (blank line)."""
    lines: list[tuple[str, str]] = []
    for paragraph in text.split("\n\n"):
        for item in paragraph.strip().split("\n"):
            item = item.strip()
            if not item:
                continue
            if item.startswith("# "):
                lines.append(("h", item[2:]))
            elif item.startswith("- "):
                wrapped = textwrap.wrap(item[2:], WRAP - 4, break_on_hyphens=False)
                lines.append(("p", "- " + wrapped[0]))
                lines.extend(("p", "  " + rest) for rest in wrapped[1:])
            else:
                wrapped = textwrap.wrap(item, WRAP, break_on_hyphens=False)
                lines.extend(("p", part) for part in wrapped)
        lines.append(("", ""))
    return lines


def paginate(lines: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    pages: list[list[tuple[str, str]]] = [[]]
    for style, line in lines:
        # do not leave a heading or a blank line alone at the bottom of a page
        room = LINES_PER_PAGE - len(pages[-1])
        if room <= 0 or (style == "h" and room < 4):
            pages.append([])
        if not pages[-1] and not style:
            continue
        pages[-1].append((style, line))
    return [page for page in pages if page]


def pdf_string(value: str) -> bytes:
    escaped = value.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    return b"(" + escaped.encode("cp1252") + b")"


def content_stream(page: list[tuple[str, str]], number: int, total: int) -> bytes:
    out = [
        b"BT",
        b"/F1 %d Tf" % FONT_SIZE,
        b"%d TL" % LEADING,
        b"%d %d Td" % (MARGIN_LEFT, PAGE_HEIGHT - MARGIN_TOP),
    ]
    font = "F1"
    for style, line in page:
        wanted = "F2" if style == "h" else "F1"
        if wanted != font:
            size = HEADING_SIZE if wanted == "F2" else FONT_SIZE
            out.append(b"/%s %d Tf" % (wanted.encode(), size))
            font = wanted
        # a blank line is written as a single space so that text extraction keeps the break
        out.append(pdf_string(line or " ") + b" Tj T*")
    out.append(b"ET")
    footer = f"{TITLE} - page {number} of {total}"
    out += [
        b"BT",
        b"/F1 8 Tf",
        b"%d %d Td" % (MARGIN_LEFT, MARGIN_BOTTOM // 2),
        pdf_string(footer) + b" Tj",
        b"ET",
    ]
    return b"\n".join(out) + b"\n"


def build_pdf(text: str, title: str) -> bytes:
    pages = paginate(layout(text))
    objects: list[bytes] = []  # objects[i] is object number i + 1

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    catalog = add(b"")  # filled in once the page tree number is known
    pages_id = add(b"")
    font_regular = add(
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
    )
    font_bold = add(
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>"
    )
    page_ids = []
    for number, page in enumerate(pages, start=1):
        stream = content_stream(page, number, len(pages))
        content_id = add(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"endstream")
        page_ids.append(
            add(
                b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 %d %d] "
                % (pages_id, PAGE_WIDTH, PAGE_HEIGHT)
                + b"/Resources << /Font << /F1 %d 0 R /F2 %d 0 R >> >> " % (font_regular, font_bold)
                + b"/Contents %d 0 R >>" % content_id
            )
        )
    objects[catalog - 1] = b"<< /Type /Catalog /Pages %d 0 R >>" % pages_id
    kids = b" ".join(b"%d 0 R" % pid for pid in page_ids)
    objects[pages_id - 1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, len(page_ids))
    info = add(
        b"<< /Title " + pdf_string(title) + b" /Author (Kumo Logistics Finance and "
        b"Accounting Department) /Subject (Business travel and expense rules) "
        b"/Producer (ragsvc demo/make_pdf.py) /CreationDate (D:20240401090000+09'00') >>"
    )

    data = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(data))
        data += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref_at = len(data)
    data += b"xref\n0 %d\n" % (len(objects) + 1)
    data += b"0000000000 65535 f \n"
    data += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    data += b"trailer\n<< /Size %d /Root %d 0 R /Info %d 0 R >>\n" % (
        len(objects) + 1,
        catalog,
        info,
    )
    data += b"startxref\n%d\n%%%%EOF\n" % xref_at
    return bytes(data)


def main() -> None:
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else OUTPUT
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(build_pdf(TEXT, TITLE))
    print(f"wrote {target} ({target.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
