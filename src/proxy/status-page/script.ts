// The status page's script (plain browser JavaScript, no build step, no external assets so
// that it works on a closed network and under a strict Content-Security-Policy). It polls
// /admin/migration every REFRESH_MS and redraws; every value is set with textContent, never
// as HTML, because ids, reasons and host names come from the migration's data.

export const STATUS_REFRESH_MS = 2000

// biome-ignore lint/complexity/noUselessStringRaw: served as written; a \d or \n added to the script must reach the browser
export const STATUS_JS = String.raw`
'use strict';
(function () {
  var REFRESH_MS = ${STATUS_REFRESH_MS};
  var $ = function (id) { return document.getElementById(id); };
  // A token in the fragment (never sent to the server) is kept for this tab, and leaves the
  // address bar and the browser history at once.
  function tokenFromHash() {
    var hash = /(?:^#|&)token=([^&]+)/.exec(location.hash);
    if (!hash) return false;
    sessionStorage.setItem('vecshift-admin-token', decodeURIComponent(hash[1]));
    history.replaceState(null, '', location.pathname);
    return true;
  }
  tokenFromHash();
  window.addEventListener('hashchange', function () {
    if (tokenFromHash() && !$('login').hidden) { $('login').hidden = true; refresh(); }
  });
  function token() { return sessionStorage.getItem('vecshift-admin-token') || ''; }

  $('login').addEventListener('submit', function (e) {
    e.preventDefault();
    sessionStorage.setItem('vecshift-admin-token', $('token').value);
    $('login').hidden = true;
    refresh();
  });

  function text(el, value) { el.textContent = value === undefined || value === null ? '-' : String(value); }
  function row(cells) {
    var tr = document.createElement('tr');
    cells.forEach(function (c) {
      var td = document.createElement('td');
      if (c && typeof c === 'object') { td.textContent = c.text; if (c.cls) td.className = c.cls; } else text(td, c);
      tr.appendChild(td);
    });
    return tr;
  }
  function fill(id, rows, empty) {
    var body = $(id);
    body.replaceChildren();
    if (rows.length === 0) rows = [[empty]];
    rows.forEach(function (r) { body.appendChild(row(r)); });
  }
  function dd(list, pairs) {
    list.replaceChildren();
    pairs.forEach(function (p) {
      var dt = document.createElement('dt'); dt.textContent = p[0];
      var d = document.createElement('dd'); text(d, p[1]);
      list.appendChild(dt); list.appendChild(d);
    });
  }

  function render(s) {
    var m = s.migration;
    var record = m ? m.record : {
      migration: s.gateway.migration, phase: s.gateway.phase, epoch: s.gateway.epoch, routing: s.gateway.routing, cutovers: []
    };
    text($('migration'), record.migration);
    text($('phase'), record.phase);
    $('phase').dataset.phase = record.phase;
    text($('updated'), 'updated ' + new Date(s.now).toLocaleTimeString() + ' · epoch ' + record.epoch);
    var r = record.routing;
    dd($('routing'), [
      ['reads', r.reads + (r.canaryPercent ? ' (' + r.canaryPercent + '% canary)' : '')],
      ['writes', r.writes + (r.holdWrites ? ' (held at the cutover barrier)' : '')],
      ['this gateway', s.gateway.inFlight + ' requests in flight, ' + s.gateway.writes.held + ' writes held'],
    ]);

    var copy = m ? m.copy : { state: 'unknown (no control store)', copied: 0 };
    var pct = copy.total ? Math.min(100, Math.round(copy.copied / copy.total * 100)) : (copy.state === 'done' ? 100 : 0);
    $('copy-bar').style.width = pct + '%';
    text($('copy'), copy.state + (copy.strategy ? ' (' + copy.strategy + ')' : '') + ': ' + copy.copied +
      (copy.total !== undefined ? ' of ' + copy.total : '') + ' records');

    var replay = s.replay.filter(function (p) {
      return p.consumer === (record.phase === 'rollback' || record.phase === 'target-primary' ? 'rollback' : 'replay');
    })[0] || s.replay[0];
    text($('replay'), replay
      ? replay.consumer + ': lag ' + (replay.lagRecords === undefined ? '?' : replay.lagRecords) + ' records, ' +
        replay.lagSeconds + ' s; ' + replay.counts.applied + ' writes applied' +
        (replay.retrying ? '; retrying: ' + replay.retrying : '')
      : 'no replayer has reported yet');
    drawLag(s.lag, replay ? replay.consumer : undefined, s.now);

    fill('shadow', (m ? m.shadow : []).map(function (sh) {
      return [sh.replica, sh.compared, sh.meanOverlap, sh.disagreed, (sh.meanSourceMs || '-') + ' / ' + (sh.meanTargetMs || '-')];
    }), 'no shadow reads');
    fill('replicas', (m ? m.replicas : []).map(function (l) {
      return [l.replica, l.host + ' pid ' + l.pid, l.epoch, l.inFlightWrites + ' / ' + l.heldWrites,
        {
          text: l.expired ? 'expired ' + l.expiresAt : 'until ' + new Date(l.expiresAt).toLocaleTimeString(),
          cls: l.expired ? 'bad' : 'good'
        }];
    }), 'no replica holds a lease');
    var lease = m ? m.coordinator : undefined;
    fill('cutovers', record.cutovers.slice().reverse().map(function (c) {
      // A running attempt whose deadline passed, or whose coordinator's lease ran out.
      var gone = c.outcome === 'running' && ((c.deadline && Date.parse(c.deadline) < Date.now()) ||
        (lease && lease.expired && c.owner && lease.pid === c.owner.pid && lease.host === c.owner.host));
      return [new Date(c.startedAt).toLocaleString(), c.kind,
        { text: c.outcome + (gone ? ' (owner gone: the gateways end its pause)' : '') + (c.reason ? ': ' + c.reason : ''),
          cls: c.outcome === 'done' ? 'good' : c.outcome === 'aborted' || gone ? 'bad' : '' },
        c.pauseMs === undefined ? '-' : c.pauseMs + ' ms',
        c.steps.map(function (st) { return st.name + ' ' + st.ms + (st.ok ? '' : ' (failed)'); }).join(', ')];
    }), 'no cutover yet');
  }

  function drawLag(samples, consumer, now) {
    var points = samples.filter(function (p) { return p.consumer === consumer && p.lagRecords !== null; });
    var line = $('lag-line');
    if (points.length === 0) { line.setAttribute('points', ''); text($('lag-axis'), 'no samples yet'); return; }
    var t0 = points[0].at, t1 = Math.max(now, t0 + 1000);
    var max = Math.max.apply(null, points.map(function (p) { return p.lagRecords; }).concat([10]));
    line.setAttribute('points', points.map(function (p) {
      var x = (p.at - t0) / (t1 - t0) * 600;
      var y = 155 - p.lagRecords / max * 150;
      return x.toFixed(1) + ',' + y.toFixed(1);
    }).join(' '));
    line.dataset.samples = String(points.length);
    text($('lag-axis'), points.length + ' samples over ' + Math.round((t1 - t0) / 1000) + ' s; peak ' + max +
      ' records; now ' + points[points.length - 1].lagRecords);
  }

  function refresh() {
    var headers = token() ? { authorization: 'Bearer ' + token() } : {};
    fetch('/admin/migration', { headers: headers, cache: 'no-store' }).then(function (res) {
      if (res.status === 401) {
        $('login').hidden = false;
        $('content').hidden = true;
        throw new Error('the admin API wants a token (VECSHIFT_ADMIN_TOKEN of the gateway)');
      }
      if (!res.ok) throw new Error('the admin API answered ' + res.status);
      return res.json();
    }).then(function (s) {
      $('error').hidden = true;
      $('content').hidden = false;
      render(s);
    }).catch(function (err) {
      $('error').hidden = false;
      text($('error'), err.message);
    }).finally(function () {
      if ($('login').hidden) setTimeout(refresh, REFRESH_MS);
    });
  }
  refresh();
})();
`
