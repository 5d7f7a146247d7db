"""DOCX fixtures python-docx cannot write through its API: parts and markup added with its OPC layer the way
Word writes them (a chart part, a SmartArt data part, tracked changes, content controls)."""

from __future__ import annotations

from pathlib import Path

_DRAWING = """<w:r xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:drawing>
<wp:inline xmlns:wp="http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing">
<wp:extent cx="4000000" cy="2000000"/>
<wp:docPr id="{id}" name="Object {id}"/><a:graphic xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main">
<a:graphicData uri="{uri}">{inner}</a:graphicData></a:graphic></wp:inline></w:drawing></w:r>"""
_R = 'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"'
_DIAGRAM = """<dgm:dataModel xmlns:dgm="http://schemas.openxmlformats.org/drawingml/2006/diagram"
 xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main"><dgm:ptLst><dgm:pt modelId="0" type="doc"/>{points}
</dgm:ptLst></dgm:dataModel>"""
_POINT = '<dgm:pt modelId="{n}"><dgm:prSet/><dgm:t><a:bodyPr/><a:p><a:r><a:t>{text}</a:t></a:r></a:p></dgm:t></dgm:pt>'


def chart_and_smartart_docx(folder: Path) -> Path:
    """A DOCX (python-docx) with a column chart (chart part written by python-pptx's chart XML writer: title,
    two series, categories, cached values) and a SmartArt diagram's data part with three nodes."""
    import docx
    from docx.opc.constants import RELATIONSHIP_TYPE as RT
    from docx.opc.packuri import PackURI
    from docx.opc.part import Part
    from docx.oxml import parse_xml
    from pptx.chart.chart import Chart
    from pptx.chart.data import CategoryChartData
    from pptx.chart.xmlwriter import ChartXmlWriter
    from pptx.enum.chart import XL_CHART_TYPE
    from pptx.oxml import parse_xml as parse_pptx_xml

    document = docx.Document()
    document.add_paragraph("Figures follow.")
    data = CategoryChartData(number_format="#,##0")
    data.categories = ["Berlin", "Madrid"]
    data.add_series("Visitors 2023", (15200, 9800))
    data.add_series("Visitors 2024", (16750, 11020))
    space = parse_pptx_xml(ChartXmlWriter(XL_CHART_TYPE.COLUMN_CLUSTERED, data).xml.encode())
    chart = Chart(space, None)
    chart.has_title = True
    chart.chart_title.text_frame.text = "Visitors by city"
    from lxml import etree

    package = document.part.package
    chart_part = Part(
        PackURI("/word/charts/chart1.xml"),
        "application/vnd.openxmlformats-officedocument.drawingml.chart+xml",
        etree.tostring(space),
        package,
    )
    chart_rid = document.part.relate_to(chart_part, RT.CHART)
    points = "".join(_POINT.format(n=n, text=t) for n, t in enumerate(["Plan budget", "Hire team", "Ship release"], 1))
    diagram_part = Part(
        PackURI("/word/diagrams/data1.xml"),
        "application/vnd.openxmlformats-officedocument.drawingml.diagramData+xml",
        _DIAGRAM.format(points=points).encode(),
        package,
    )
    diagram_rid = document.part.relate_to(diagram_part, RT.DIAGRAM_DATA)
    paragraph = document.add_paragraph("Chart and diagram:")
    uri = "http://schemas.openxmlformats.org/drawingml/2006/"
    inner = f'<c:chart xmlns:c="{uri}chart" {_R} r:id="{chart_rid}"/>'
    paragraph._p.append(parse_xml(_DRAWING.format(id=1, uri=f"{uri}chart", inner=inner)))
    inner = f'<dgm:relIds xmlns:dgm="{uri}diagram" {_R} r:dm="{diagram_rid}" r:lo="" r:qs="" r:cs=""/>'
    paragraph._p.append(parse_xml(_DRAWING.format(id=2, uri=f"{uri}diagram", inner=inner)))
    path = folder / "chart-smartart.docx"
    document.save(path)
    return path


_W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'


def revisions_and_controls_docx(folder: Path) -> Path:
    """A DOCX (python-docx) with tracked changes (an insertion, a deletion, a move) and content controls
    (a block-level one holding a paragraph, an inline one inside a paragraph), as Word writes them."""
    import docx
    from docx.oxml import parse_xml

    document = docx.Document()
    paragraph = document.add_paragraph("Contract value is ")
    for xml in (
        f'<w:ins {_W} w:id="1" w:author="Legal"><w:r><w:t>forty thousand euros</w:t></w:r></w:ins>',
        f'<w:del {_W} w:id="2" w:author="Legal"><w:r><w:delText>thirty thousand</w:delText></w:r></w:del>',
        f'<w:moveFrom {_W} w:id="3" w:author="Legal"><w:r><w:t> net of tax</w:t></w:r></w:moveFrom>',
        f"<w:sdt {_W}><w:sdtPr/><w:sdtContent><w:r><w:t> per annum</w:t></w:r></w:sdtContent></w:sdt>",
    ):
        paragraph._p.append(parse_xml(xml))
    block = (
        f"<w:sdt {_W}><w:sdtPr/><w:sdtContent><w:p><w:r><w:t>Signed in Geneva</w:t></w:r></w:p></w:sdtContent></w:sdt>"
    )
    document.element.body.insert(len(document.element.body) - 1, parse_xml(block))
    path = folder / "revisions.docx"
    document.save(path)
    return path
