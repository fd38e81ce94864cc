import { expect } from 'chai';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import winston from 'winston';
import { allowlistProblems, parseAccount } from '../../../src/allowlist/accounts.js';
import { AllowlistStore, allowlistPath, readAllowlistFile } from '../../../src/allowlist/store.js';
import { Allowlists, Mode } from '../../../src/worker/firewall-allowlist.js';

const silent = winston.createLogger({ silent: true });
const D1 = '0123456789abcdef';
const D2 = 'fedcba9876543210';

describe('allowlist/accounts', () => {
  it('parses user and user@cidr; a user name holding @ without an address block stays whole', () => {
    expect(parseAccount('app')).to.deep.equal({ key: 'app', user: 'app', cidr: null });
    expect(parseAccount('app@10.1.0.0/16')?.cidr).to.deep.equal({ address: '10.1.0.0', prefix: 16, family: 'ipv4' });
    expect(parseAccount('a@b@::1')?.user).to.equal('a@b');
    expect(parseAccount('ops@example')).to.deep.equal({ key: 'ops@example', user: 'ops@example', cidr: null });
    expect(parseAccount('')).to.equal(null);
  });

  it('names every problem of a file with its path', () => {
    expect(allowlistProblems({ version: 1, accounts: { app: { mode: 'learn', digests: { [D1]: 'SELECT ?' } } } })).to.deep.equal([]);
    expect(allowlistProblems({ version: 2, accounts: { app: { mode: 'x', digests: { nothex: 1 } } } })).to.deep.equal([
      'version: must be 1',
      'accounts.app.mode: must be one of off, learn, detect, protect',
      'accounts.app.digests.nothex: not a digest id (16 lowercase hex characters)',
      'accounts.app.digests.nothex: the fingerprint must be a string',
    ]);
    expect(allowlistProblems([])).to.have.length(1);
  });
});

describe('allowlist/store', () => {
  const dir = (): string => mkdtempSync(path.join(os.tmpdir(), 'dbmesh-allowlist-unit-'));

  it('lives next to the config by default; a configured path is relative to the config directory', () => {
    expect(allowlistPath(undefined, '/etc/dbmesh/dbmesh.json')).to.equal('/etc/dbmesh/dbmesh.allowlist.json');
    expect(allowlistPath('lists/a.json', '/etc/dbmesh/dbmesh.yaml')).to.equal('/etc/dbmesh/lists/a.json');
    expect(allowlistPath('/var/lib/a.json', '/etc/dbmesh/dbmesh.yaml')).to.equal('/var/lib/a.json');
  });

  it('writes every change atomically (no temporary file left) and reads it back', async () => {
    const file = path.join(dir(), 'a.json');
    const store = new AllowlistStore(file, silent);
    await store.setMode('app', 'learn');
    await store.put('app@10.0.0.0/8', { [D1]: 'SELECT ?' }, 'protect');
    expect(readdirSync(path.dirname(file))).to.deep.equal(['a.json']);
    const again = readAllowlistFile(file);
    expect(again.accounts['app@10.0.0.0/8']).to.deep.equal({ mode: 'protect', digests: { [D1]: 'SELECT ?' } });
    expect(again.accounts.app!.mode).to.equal('learn');
    store.close();
  });

  it('keeps learned digests only for accounts that are learning, and tells the workers once per batch', async () => {
    const file = path.join(dir(), 'a.json');
    const store = new AllowlistStore(file, silent);
    await store.setMode('app', 'learn');
    await store.setMode('other', 'protect');
    const sent: number[] = [];
    const broadcast = new Promise<void>((resolve) => {
      store.onChange = (w) => {
        sent.push(w.seq);
        resolve();
      };
    });
    store.learn({ app: { [D1]: 'SELECT ?' }, other: { [D2]: 'DELETE FROM t' }, nobody: { [D1]: 'x' } });
    store.learn({ app: { [D2]: 'UPDATE t SET a = ?' } });
    await broadcast;
    expect(sent).to.have.length(1);
    expect(Object.keys(store.get('app')!.digests).sort()).to.deep.equal([D1, D2].sort());
    expect(store.get('other')!.digests).to.deep.equal({});
    expect(store.get('nobody')).to.equal(null);
    await store.flush();
    expect(Object.keys(readAllowlistFile(file).accounts.app!.digests)).to.have.length(2);
    store.close();
  });

  it('refuses an invalid file with the problems named', () => {
    const file = path.join(dir(), 'a.json');
    writeFileSync(file, '{"version": 1, "accounts": {"app": {"mode": "on", "digests": {}}}}');
    expect(() => new AllowlistStore(file, silent)).to.throw(/accounts\.app\.mode: must be one of/);
    writeFileSync(file, '{');
    expect(() => readAllowlistFile(file)).to.throw(/is not JSON/);
  });

  it('a store whose file cannot be written says so (500) and keeps the change in memory', async () => {
    const store = new AllowlistStore(path.join(dir(), 'missing-dir', 'a.json'), silent);
    const err = await store.setMode('app', 'learn').then(() => null, (e: Error & { status?: number }) => e);
    expect(err?.status).to.equal(500);
    expect(store.get('app')?.mode).to.equal('learn');
    store.close();
  });
});

describe('worker/firewall-allowlist', () => {
  const holder = (): { allowlistAccount: null; allowlistSeq: number } => ({ allowlistAccount: null, allowlistSeq: -2 });

  it('finds the narrowest address block for the client, else the user, else none', () => {
    const a = new Allowlists();
    a.apply({ seq: 1, accounts: [
      { account: 'app', mode: 'detect', digests: [D1] },
      { account: 'app@10.0.0.0/8', mode: 'learn', digests: [] },
      { account: 'app@10.1.0.0/16', mode: 'protect', digests: [D2] },
    ] });
    expect(a.active).to.equal(true);
    expect(a.accountOf(holder(), 'app', '10.1.2.3')?.account).to.equal('app@10.1.0.0/16');
    expect(a.accountOf(holder(), 'app', '::ffff:10.9.0.1')?.account).to.equal('app@10.0.0.0/8');
    expect(a.accountOf(holder(), 'app', '192.168.0.1')?.mode).to.equal(Mode.Detect);
    expect(a.accountOf(holder(), 'other', '10.1.2.3')).to.equal(null);
  });

  it('a session finds its account again only when the list changed; an older list is ignored', () => {
    const a = new Allowlists();
    a.apply({ seq: 3, accounts: [{ account: 'app', mode: 'protect', digests: [] }] });
    const h = holder();
    expect(a.accountOf(h, 'app', '127.0.0.1')?.mode).to.equal(Mode.Protect);
    a.apply({ seq: 2, accounts: [] });
    expect(a.accountOf(h, 'app', '127.0.0.1')?.mode).to.equal(Mode.Protect);
    a.apply({ seq: 4, accounts: [{ account: 'app', mode: 'off', digests: [] }] });
    expect(a.active).to.equal(false);
    expect(a.accountOf(h, 'app', '127.0.0.1')?.mode).to.equal(Mode.Off);
  });

  it('learns a digest once, at once, and reports it once', () => {
    const a = new Allowlists();
    a.apply({ seq: 1, accounts: [{ account: 'app', mode: 'learn', digests: [] }] });
    const acc = a.accountOf(holder(), 'app', '127.0.0.1')!;
    a.learn(acc, D1, 'SELECT ?');
    expect(acc.digests.has(D1)).to.equal(true);
    expect(a.drainLearned()).to.deep.equal({ app: { [D1]: 'SELECT ?' } });
    expect(a.drainLearned()).to.equal(null);
  });
});
