"""Render a :class:`~specrunner.report.model.Report` as one static HTML page. Pure: no I/O.

The page is self-contained: inline CSS, a few lines of inline JS for the filters (without JS the
filters stay hidden and every card shows), images referenced relatively (``images/...``). Every
piece of text from the manifest, the state or the service is escaped.
"""

from __future__ import annotations

from html import escape

from specrunner.report.model import GENERATOR, STATUSES, Card, Report, Section, Shot, format_time

STATUS_CLASS = {"Success": "ok", "Fail": "fail", "Running": "run", "Interrupted": "run", "Not run": "none"}


def e(value: object) -> str:
    return escape("" if value is None else str(value), quote=True)


def _slug(status: str) -> str:
    return status.lower().replace(" ", "-")


CSS = """
:root{--bg:#f5f6f8;--card:#fff;--ink:#1d2330;--mute:#5f6b7a;--line:#dfe3e8;--ok:#1a7f37;--okbg:#e6f4ea;
--fail:#c62828;--failbg:#fdecea;--run:#9a6700;--runbg:#fff4d6;--none:#57606a;--nonebg:#eef0f2;--accent:#0b5cad}
*{box-sizing:border-box}
[hidden]{display:none!important}
body{margin:0;background:var(--bg);color:var(--ink);font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,
"Helvetica Neue",Arial,sans-serif}
header.top{background:#1d2330;color:#fff;padding:18px 28px 14px}
header.top h1{margin:0 0 4px;font-size:20px;font-weight:600}
header.top .meta{color:#c4cbd6;font-size:12.5px}
header.top .meta span+span:before{content:" · "}
main{padding:18px 28px 40px;max-width:1600px;margin:0 auto}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px}
.banner{background:#e8f1fb;border:1px solid #b6d4f2;border-radius:8px;padding:10px 14px;margin-bottom:14px}
.banner p{margin:2px 0}
.banner table{border-collapse:collapse;margin-top:6px}
.banner td{padding:2px 14px 2px 0;vertical-align:top}
.summary{display:flex;flex-wrap:wrap;gap:10px;margin-bottom:14px}
.tile{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:8px 14px;min-width:110px}
.tile .n{display:block;font-size:24px;font-weight:650;line-height:1.2}
.tile .l{color:var(--mute);font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.tile.ok .n{color:var(--ok)}.tile.fail .n{color:var(--fail)}.tile.run .n{color:var(--run)}
.tile.none .n{color:var(--none)}
.filters{display:flex;flex-wrap:wrap;align-items:center;gap:8px 18px;background:var(--card);
border:1px solid var(--line);border-radius:8px;padding:8px 14px;margin-bottom:18px;\
position:sticky;top:0;z-index:2}
.filters label{cursor:pointer;white-space:nowrap}
.filters select{font:inherit;padding:2px 6px}
.filters .shown{margin-left:auto;color:var(--mute)}
nav.toc{margin:-6px 0 16px;color:var(--mute);font-size:13px}
nav.toc a{color:var(--accent);text-decoration:none;margin-right:12px}
section.rule{margin-bottom:26px}
section.rule>h2{font-size:17px;margin:0 0 2px;display:flex;gap:10px;align-items:baseline;flex-wrap:wrap}
section.rule>h2 .desc{font-size:13px;font-weight:400;color:var(--mute)}
section.rule>.counts{color:var(--mute);font-size:12.5px;margin-bottom:8px}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(330px,1fr));gap:12px}
.card{background:var(--card);border:1px solid var(--line);border-left:4px solid var(--none);border-radius:8px;
padding:10px 12px;min-width:0}
.card.wide{grid-column:1/-1}
.card.ok{border-left-color:var(--ok)}.card.fail{border-left-color:var(--fail);background:#fffafa}
.card.run{border-left-color:var(--run)}
.card h3{margin:0;font-size:13.5px;font-weight:600;display:flex;gap:8px;align-items:center;flex-wrap:wrap}
.card h3 .key{word-break:break-all}
.badge{display:inline-block;border-radius:10px;padding:0 8px;font-size:11.5px;font-weight:600;\
line-height:19px}
.badge.ok{background:var(--okbg);color:var(--ok)}.badge.fail{background:var(--failbg);color:var(--fail)}
.badge.run{background:var(--runbg);color:var(--run)}.badge.none{background:var(--nonebg);color:var(--none)}
.facts{color:var(--mute);font-size:12.5px;margin:3px 0 6px;display:flex;flex-wrap:wrap;gap:2px 14px}
.facts b{color:var(--ink);font-weight:600}
.error{background:var(--failbg);border:1px solid #f5c2c0;border-radius:6px;padding:6px 9px;margin:6px 0;
color:#7a1010;word-break:break-word}
.error code{font-weight:700;color:var(--fail)}
.note{color:var(--run);font-size:12.5px;margin:4px 0}
.thumbs{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:8px;margin-top:6px}
figure{margin:0;background:#f0f2f5;border:1px solid var(--line);border-radius:6px;overflow:hidden}
figure a{display:block;line-height:0;background:#111}
figure img{display:block;width:100%;height:auto}
figure.sprite{grid-column:1/-1;justify-self:start;max-width:100%;min-width:min(100%,300px)}
figure.sprite a{background:none}
figure.sprite img{width:auto;max-width:100%}
figcaption{padding:3px 7px;font-size:12px;display:flex;flex-wrap:wrap;justify-content:space-between;gap:0 8px}
figcaption .t{font-weight:600}
figcaption .d{color:var(--mute)}
figure.missing .ph{display:flex;align-items:center;justify-content:center;min-height:80px;color:var(--fail);
font-size:12px;padding:8px;text-align:center;word-break:break-all}
ul.objects{margin:6px 0 0;padding-left:18px;font-size:12.5px}
ul.objects li{margin:1px 0;word-break:break-all}
ul.objects .t{color:var(--mute);margin-left:6px}
.empty{color:var(--mute);font-style:italic}
footer{color:var(--mute);font-size:12px;padding:0 28px 24px;max-width:1600px;margin:0 auto}
"""

JS = """
(function(){
  var form=document.getElementById('filters');
  if(!form){return;}
  form.hidden=false;
  var boxes=Array.prototype.slice.call(form.querySelectorAll('input[name=state]'));
  var rule=document.getElementById('rule-filter');
  var shown=document.getElementById('shown');
  function update(){
    var on={},n=0;
    boxes.forEach(function(b){on[b.value]=b.checked;});
    Array.prototype.forEach.call(document.querySelectorAll('section.rule'),function(s){
      var any=0, ruleOk=!rule.value||s.getAttribute('data-rule')===rule.value;
      var cards=s.querySelectorAll('.card');
      Array.prototype.forEach.call(cards,function(c){
        var vis=ruleOk&&on[c.getAttribute('data-state')]!==false;
        c.hidden=!vis; if(vis){any++;n++;}
      });
      s.hidden=cards.length?!any:!ruleOk;
    });
    shown.textContent=String(n);
  }
  form.addEventListener('change',update);
  form.addEventListener('submit',function(ev){ev.preventDefault();});
  update();
})();
"""


def render(report: Report) -> str:
    counts = report.counts()
    total = sum(counts.values())
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f'<meta name="generator" content="{GENERATOR}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        # Nothing may come from the network: the page and its images/ folder are the whole report.
        '<meta http-equiv="Content-Security-Policy" '
        "content=\"default-src 'none'; img-src 'self' file: data:; "
        "style-src 'unsafe-inline'; script-src 'unsafe-inline'\">",
        f"<title>{e(report.title)}</title>",
        f"<style>{CSS}</style>",
        "</head>",
        "<body>",
        '<header class="top">',
        f"<h1>{e(report.title)}</h1>",
        '<div class="meta">'
        f"<span>manifest <code>{e(report.manifest)}</code></span>"
        f"<span>backend {e(report.backend)}</span>"
        f"<span>state <code>{e(report.state)}</code></span>"
        f"<span>generated {e(report.generated)}</span></div>",
        "</header>",
        "<main>",
    ]
    if report.banner or report.samples:
        parts.append('<div class="banner">')
        parts += [f"<p>{e(line)}</p>" for line in report.banner]
        if report.samples:
            parts.append("<table><tbody>")
            for input_id, obj, used in report.samples:
                parts.append(
                    f'<tr><td><code>{e(input_id)}</code></td><td class="mono">{e(obj)}</td>'
                    f"<td>{e(used)}</td></tr>"
                )
            parts.append("</tbody></table>")
        parts.append("</div>")
    parts.append('<div class="summary" id="summary">')
    parts.append(
        f'<div class="tile" id="count-total"><span class="n">{total}</span><span class="l">jobs</span></div>'
    )
    for status in STATUSES:
        if counts[status] or status in ("Success", "Fail"):
            parts.append(
                f'<div class="tile {STATUS_CLASS[status]}" id="count-{_slug(status)}">'
                f'<span class="n">{counts[status]}</span><span class="l">{e(status)}</span></div>'
            )
    parts.append("</div>")
    parts.append(_filters(report, counts, total))
    if len(report.sections) > 1:
        parts.append(
            '<nav class="toc">Rules: '
            + "".join(f'<a href="#rule-{e(s.rule_id)}">{e(s.rule_id)}</a>' for s in report.sections)
            + "</nav>"
        )
    for section in report.sections:
        parts.append(_section(section, report.local_images))
    parts.append("</main>")
    parts.append(
        f"<footer>Written by {e(GENERATOR)}. Times are computed from each job's Time, Interval and "
        "Num; “≈” marks times where the service may pick a nearby frame (FrameType intra takes the "
        "nearest keyframe).</footer>"
    )
    parts.append(f"<script>{JS}</script>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _filters(report: Report, counts: dict[str, int], total: int) -> str:
    boxes = "".join(
        f'<label><input type="checkbox" name="state" value="{e(s)}" checked> {e(s)} ({counts[s]})</label>'
        for s in STATUSES
        if counts[s]
    )
    options = "".join(f'<option value="{e(s.rule_id)}">{e(s.rule_id)}</option>' for s in report.sections)
    return (
        f'<form class="filters" id="filters" hidden><strong>Show</strong>{boxes}'
        f'<label>rule <select id="rule-filter"><option value="">all rules</option>{options}</select></label>'
        f'<span class="shown"><span id="shown">{total}</span> of {total} jobs shown</span></form>'
    )


def _section(section: Section, local: bool) -> str:
    c: dict[str, int] = {}
    for card in section.cards:
        c[card.status] = c.get(card.status, 0) + 1
    counts = ", ".join(f"{n} {s}" for s, n in sorted(c.items(), key=lambda kv: STATUSES.index(kv[0])))
    out = [
        f'<section class="rule" id="rule-{e(section.rule_id)}" data-rule="{e(section.rule_id)}">',
        f'<h2><span>{e(section.rule_id)}</span><span class="desc">{e(section.description)}</span></h2>',
        f'<div class="counts">{len(section.cards)} job{"s" if len(section.cards) != 1 else ""}'
        f"{': ' + e(counts) if counts else ''}</div>",
    ]
    if not section.cards:
        out.append('<p class="empty">This rule matches no input.</p>')
    else:
        out.append('<div class="cards">')
        out += [_card(card, local) for card in section.cards]
        out.append("</div>")
    out.append("</section>")
    return "\n".join(out)


def _card(card: Card, local: bool) -> str:
    cls = STATUS_CLASS[card.status]
    wide = len(card.shots) > 3 or any(s.kind == "sprite" for s in card.shots)
    out = [
        f'<article class="card {cls}{" wide" if wide else ""}" data-state="{e(card.status)}" '
        f'data-rule="{e(card.rule_id)}" data-key="{e(card.key)}">',
        f'<h3><span class="badge {cls}">{e(card.status)}</span>'
        f'<span class="key mono">{e(card.key)}</span></h3>',
    ]
    facts = [f'input <b class="mono">{e(card.input_ref)}</b>']
    if card.duration_ms:
        facts.append(f"length <b>{e(format_time(card.duration_ms))}</b>")
    if card.mode:
        facts.append(f"mode <b>{e(card.mode)}</b>")
    if card.count is not None:
        facts.append(f"count <b>{e(card.count)}</b>")
    if card.tile_count:
        facts.append(f"tile count <b>{e(card.tile_count)}</b>")
    if card.job_id:
        facts.append(f'job <span class="mono">{e(card.job_id)}</span>')
    out.append('<div class="facts">' + "".join(f"<span>{f}</span>" for f in facts) + "</div>")
    if card.status == "Fail" or card.code or card.message:
        out.append(f'<div class="error"><code>{e(card.code or "no code")}</code> {e(card.message)}</div>')
    out += [f'<div class="note">{e(n)}</div>' for n in card.notes]
    if card.missing:
        n = len(card.missing)
        where = "on disk" if local else "in the bucket"
        out.append(
            f'<div class="note missing-outputs">{n} output{"s" if n != 1 else ""} listed in the state '
            f"{'are' if n != 1 else 'is'} not {where}.</div>"
        )
    if card.shots:
        if local:
            out.append('<div class="thumbs">' + "".join(_figure(s) for s in card.shots) + "</div>")
        else:
            out.append(
                '<ul class="objects">'
                + "".join(
                    f'<li{gone}><span class="mono">{e(s.uri)}</span><span class="t">{e(_caption(s))}</span>'
                    f"{' <b>missing</b>' if gone else ''}</li>"
                    for s in card.shots
                    for gone in [' class="missing"' if s.object in card.missing else ""]
                )
                + "</ul>"
            )
    elif card.status == "Success":
        out.append('<p class="empty">No output objects recorded.</p>')
    out.append("</article>")
    return "\n".join(out)


def _caption(shot: Shot) -> str:
    return f"{shot.label} · {shot.detail}" if shot.detail else shot.label


def _figure(shot: Shot) -> str:
    cls = "sprite" if shot.kind == "sprite" else "cell"
    title = e(shot.uri)
    cap = (
        f'<figcaption><span class="t">{e(shot.label)}</span><span class="d">{e(shot.detail)}</span>'
        "</figcaption>"
    )
    if shot.src is None:
        return (
            f'<figure class="{cls} missing" title="{title}"><div class="ph">not on disk: {e(shot.object)}'
            f"</div>{cap}</figure>"
        )
    size = f' width="{shot.width}" height="{shot.height}"' if shot.width and shot.height else ""
    alt = e(f"{shot.label} {shot.detail}".strip())
    style = f' style="width:{shot.width}px"' if cls == "sprite" and shot.width else ""
    return (
        f'<figure class="{cls}" title="{title}"{style}><a href="{e(shot.src)}" target="_blank">'
        f'<img src="{e(shot.src)}" alt="{alt}"{size}></a>{cap}</figure>'
    )
