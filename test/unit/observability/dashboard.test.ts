/**
 * The Grafana dashboard (deploy/grafana/dbmesh.json) against the code and the metrics
 * reference (docs/metrics.md): every metric a panel or a variable queries is defined under
 * src/ and has its row in the reference, and the reference has a row for every metric src/
 * defines and for no other. Everything is read from the checkout the test runs in, so a
 * renamed metric fails here rather than as an empty panel.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { REPO_ROOT } from '../../helpers/dbmesh.js';

const DASHBOARD = path.join(REPO_ROOT, 'deploy', 'grafana', 'dbmesh.json');
const REFERENCE = path.join(REPO_ROOT, 'docs', 'metrics.md');
const SOURCES = path.join(REPO_ROOT, 'src');

const METRIC_IN_QUERY = /dbmesh_[a-z0-9_]+/g;
/** `name: 'dbmesh_...'` in a prom-client metric's options. */
const METRIC_OPTION = /\bname:\s*'(dbmesh_[a-z0-9_]+)'/g;
/** The master's histogram fed with bucket counts: its name is the constructor's first argument. */
const CUMULATIVE_HISTOGRAM = /new CumulativeHistogram\(\s*'(dbmesh_[a-z0-9_]+)'/g;
/** prom-client's own histograms and summaries, should any appear. */
const PROM_HISTOGRAM = /new (?:Histogram|Summary)\b[^(]*\(\s*\{\s*name:\s*'(dbmesh_[a-z0-9_]+)'/g;
/** A reference table row: the metric's name, in backticks, in the first column. */
const REFERENCE_ROW = /^\|\s*`(dbmesh_[a-z0-9_]+)`\s*\|/gm;
const HISTOGRAM_SERIES = /_(?:bucket|sum|count)$/;

interface Target { readonly expr?: string; readonly datasource?: { readonly uid?: string } }
interface Panel {
  readonly id?: number;
  readonly type: string;
  readonly title?: string;
  readonly datasource?: { readonly uid?: string };
  readonly targets?: readonly Target[];
  readonly panels?: readonly Panel[];
}
interface Variable { readonly type: string; readonly query?: string | { readonly query?: string } }
interface Dashboard { readonly panels: readonly Panel[]; readonly templating: { readonly list: readonly Variable[] } }

interface SourceMetrics {
  readonly names: ReadonlySet<string>;
  readonly histograms: ReadonlySet<string>;
}

function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...tsFiles(full));
    else if (e.name.endsWith('.ts')) out.push(full);
  }
  return out;
}

function sourceMetrics(): SourceMetrics {
  const names = new Set<string>();
  const histograms = new Set<string>();
  for (const file of tsFiles(SOURCES)) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(METRIC_OPTION)) names.add(m[1]!);
    for (const m of text.matchAll(CUMULATIVE_HISTOGRAM)) {
      names.add(m[1]!);
      histograms.add(m[1]!);
    }
    for (const m of text.matchAll(PROM_HISTOGRAM)) histograms.add(m[1]!);
  }
  return { names, histograms };
}

/** Every panel, those inside collapsed rows included. */
function allPanels(panels: readonly Panel[]): Panel[] {
  return panels.flatMap((p) => [p, ...allPanels(p.panels ?? [])]);
}

/** The PromQL of every panel target and every query variable. */
function queries(d: Dashboard): string[] {
  const out: string[] = [];
  for (const p of allPanels(d.panels)) for (const t of p.targets ?? []) if (t.expr !== undefined) out.push(t.expr);
  for (const v of d.templating.list) {
    if (v.type !== 'query') continue;
    const q = typeof v.query === 'string' ? v.query : v.query?.query;
    if (q !== undefined) out.push(q);
  }
  return out;
}

/** Metric names in the queries, a histogram's _bucket/_sum/_count series under its own name. */
function queriedMetrics(d: Dashboard, histograms: ReadonlySet<string>): Set<string> {
  const out = new Set<string>();
  for (const q of queries(d)) {
    for (const [name] of q.matchAll(METRIC_IN_QUERY)) {
      const base = name.replace(HISTOGRAM_SERIES, '');
      out.add(base !== name && histograms.has(base) ? base : name);
    }
  }
  return out;
}

function referenceRows(): Set<string> {
  return new Set([...readFileSync(REFERENCE, 'utf8').matchAll(REFERENCE_ROW)].map((m) => m[1]!));
}

function missingFrom(names: Iterable<string>, from: ReadonlySet<string>): string[] {
  return [...names].filter((n) => !from.has(n)).sort();
}

describe('observability: the Grafana dashboard and the metrics reference', () => {
  const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as Dashboard;
  const source = sourceMetrics();
  const documented = referenceRows();
  const queried = queriedMetrics(dashboard, source.histograms);

  it('finds metrics in the dashboard, the sources and the reference', () => {
    expect(queried.size).to.be.greaterThan(10);
    expect(source.names.size).to.be.greaterThan(10);
    expect(documented.size).to.be.greaterThan(10);
  });

  it('queries only metrics that src/ defines', () => {
    expect(missingFrom(queried, source.names), 'queried by deploy/grafana/dbmesh.json, not defined in src/').to.deep.equal([]);
  });

  it('queries only metrics that docs/metrics.md describes', () => {
    expect(missingFrom(queried, documented), 'queried by deploy/grafana/dbmesh.json, no row in docs/metrics.md').to.deep.equal([]);
  });

  it('describes every metric src/ defines, and no other', () => {
    expect(missingFrom(source.names, documented), 'defined in src/, no row in docs/metrics.md').to.deep.equal([]);
    expect(missingFrom(documented, source.names), 'a row in docs/metrics.md, not defined in src/').to.deep.equal([]);
  });

  it('reads every panel and target from the templated data source, and numbers panels uniquely', () => {
    const panels = allPanels(dashboard.panels);
    const ids = panels.map((p) => p.id);
    expect(new Set(ids).size, 'panel ids').to.equal(ids.length);
    for (const p of panels.filter((x) => x.type !== 'row')) {
      expect(p.datasource?.uid, `panel "${p.title}"`).to.equal('${datasource}');
      expect(p.targets, `panel "${p.title}" targets`).to.not.be.empty;
      for (const t of p.targets ?? []) expect(t.datasource?.uid, `a target of panel "${p.title}"`).to.equal('${datasource}');
    }
  });
});
