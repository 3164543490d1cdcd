// The status page's markup. It holds no data: the script fetches /admin/migration with the
// admin token, so the page itself can be served without one (a browser cannot send a bearer
// token on navigation) and nothing secret is ever in its HTML.

/** A table's header row: `<thead><tr><th>…</th>…</tr></thead>`. */
const head = (...cells: string[]): string => `<thead><tr>${cells.map((c) => `<th>${c}</th>`).join('')}</tr></thead>`

export const STATUS_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>vecshift status</title>
<link rel="stylesheet" href="/status/page.css">
<script src="/status/page.js" defer></script>
</head>
<body>
<header>
  <h1>vecshift <span id="migration"></span></h1>
  <div id="phase" class="phase" data-phase="">loading…</div>
  <div id="updated" class="muted"></div>
</header>
<form id="login" hidden>
  <label>Admin token <input id="token" type="password" autocomplete="off"></label>
  <button type="submit">Show status</button>
  <p class="muted">The token is kept in this tab only (sessionStorage). You can also open this page as <code>/status#token=…</code>.</p>
</form>
<p id="error" class="error" hidden></p>
<main id="content" hidden>
  <section>
    <h2>Routing</h2>
    <dl id="routing"></dl>
  </section>
  <section>
    <h2>Copy</h2>
    <div class="bar"><div id="copy-bar"></div></div>
    <p id="copy"></p>
  </section>
  <section class="wide">
    <h2>Replay lag</h2>
    <p id="replay"></p>
    <svg id="lag-chart" viewBox="0 0 600 160" preserveAspectRatio="none" role="img" aria-label="replay lag over time">
      <polyline id="lag-line" points=""></polyline>
    </svg>
    <p id="lag-axis" class="muted"></p>
  </section>
  <section>
    <h2>Shadow reads</h2>
    <table>${head('replica', 'compared', 'mean overlap', 'differed', 'source / target ms')}<tbody id="shadow"></tbody></table>
  </section>
  <section>
    <h2>Replicas</h2>
    <table>${head('replica', 'host', 'epoch', 'in flight / held', 'lease')}<tbody id="replicas"></tbody></table>
  </section>
  <section class="wide">
    <h2>Cutover history</h2>
    <table>${head('started', 'kind', 'outcome', 'pause', 'steps (ms)')}<tbody id="cutovers"></tbody></table>
  </section>
</main>
</body>
</html>
`
