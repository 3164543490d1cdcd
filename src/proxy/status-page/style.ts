// The status page's styles: readable at a glance on a wall screen during a migration.

export const STATUS_CSS = `
body { font: 15px/1.4 system-ui, sans-serif; margin: 0; padding: 1rem 2rem; background: #f7f7f5; color: #222; }
header { display: flex; align-items: baseline; gap: 1.5rem; flex-wrap: wrap; }
h1 { font-size: 1.4rem; margin: 0.5rem 0; }
h2 { font-size: 1rem; margin: 0 0 0.5rem; text-transform: uppercase; letter-spacing: 0.05em; color: #555; }
main { display: grid; grid-template-columns: repeat(auto-fit, minmax(22rem, 1fr)); gap: 1rem; margin-top: 1rem; }
section { background: #fff; border: 1px solid #ddd; border-radius: 6px; padding: 1rem; }
section.wide { grid-column: 1 / -1; }
.phase { font-weight: 700; padding: 0.2rem 0.8rem; border-radius: 1rem; background: #ddd; }
.phase[data-phase="capture"] { background: #fde68a; }
.phase[data-phase="cutover"], .phase[data-phase="rollback"] { background: #fca5a5; }
.phase[data-phase="target-primary"], .phase[data-phase="finalized"] { background: #86efac; }
.muted { color: #777; font-size: 0.85rem; }
.error { color: #b91c1c; font-weight: 600; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 0.2rem 1rem; margin: 0; }
dt { color: #555; }
dd { margin: 0; font-weight: 600; }
.bar { height: 0.8rem; background: #eee; border-radius: 0.4rem; overflow: hidden; }
#copy-bar { height: 100%; width: 0; background: #3b82f6; transition: width 0.5s; }
svg { width: 100%; height: 160px; background: #fafafa; border: 1px solid #eee; }
polyline { fill: none; stroke: #ef4444; stroke-width: 2; vector-effect: non-scaling-stroke; }
table { border-collapse: collapse; width: 100%; font-size: 0.9rem; }
th, td { text-align: left; padding: 0.2rem 0.5rem; border-bottom: 1px solid #eee; }
td.bad { color: #b91c1c; font-weight: 600; }
td.good { color: #15803d; font-weight: 600; }
`
