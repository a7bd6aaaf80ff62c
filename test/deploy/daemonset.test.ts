// The example DaemonSet (deploy/kubernetes/gpuvirt-daemonset.yaml): every object valid against
// the Kubernetes API schema (vendored excerpt, strict: unknown fields are errors), its host config
// a valid gpuvirt HostConfig naming every config the nodes are given, and its container script
// run for real on a simulated node, with `chroot /host gpuvirt` standing for gpuvirt at that root.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { loadHostConfigText } from '../../src/hostconfig/load.js';
import { kubernetesErrors } from '../helpers/k8s-schema.js';
import { FIXTURES } from '../helpers/sim.js';

const REPO = new URL('../../', import.meta.url).pathname;
const MANIFEST = join(REPO, 'deploy/kubernetes/gpuvirt-daemonset.yaml');
const docs = parseAllDocuments(readFileSync(MANIFEST, 'utf8')).map((d) => {
  expect(d.errors).toEqual([]);
  return d.toJS() as Record<string, any>;
});
const byKind = (kind: string, name: string) => docs.find((d) => d.kind === kind && d.metadata?.name === name)!;
const TYPES: Record<string, string> = { DaemonSet: 'io.k8s.api.apps.v1.DaemonSet', ConfigMap: 'io.k8s.api.core.v1.ConfigMap' };

describe('the example DaemonSet manifest', () => {
  it('is a DaemonSet and two ConfigMaps, each valid for the Kubernetes API', () => {
    expect(docs.map((d) => `${d.apiVersion} ${d.kind}`)).toEqual(['v1 ConfigMap', 'v1 ConfigMap', 'apps/v1 DaemonSet']);
    for (const d of docs) expect(kubernetesErrors(TYPES[d.kind]!, d), d.kind).toEqual([]);
  });

  it('runs privileged in the host\'s PID namespace with the host\'s root, on every node', () => {
    const ds = byKind('DaemonSet', 'gpuvirt');
    const pod = ds.spec.template.spec;
    expect(ds.spec.selector.matchLabels).toEqual(ds.spec.template.metadata.labels);
    expect(pod.hostPID).toBe(true);
    expect(pod.tolerations).toEqual([{ operator: 'Exists' }]);
    const c = pod.containers[0];
    expect(c.securityContext.privileged).toBe(true);
    expect(c.env.find((e: { name: string }) => e.name === 'NODE_NAME').valueFrom.fieldRef.fieldPath).toBe('spec.nodeName');
    const mount = c.volumeMounts.find((v: { mountPath: string }) => v.mountPath === '/host');
    expect(pod.volumes.find((v: { name: string }) => v.name === mount.name).hostPath.path).toBe('/');
  });

  it('carries a valid host config, and every node\'s config name is one of it', () => {
    const loaded = loadHostConfigText(byKind('ConfigMap', 'gpuvirt-host-config').data['host.yaml']);
    expect(loaded.problems).toEqual([]);
    const names = Object.keys(loaded.file!.configs);
    for (const n of Object.values(byKind('ConfigMap', 'gpuvirt-node-configs').data)) expect(names).toContain(n);
  });

  it('the schema check finds what kubectl --validate=strict would refuse', () => {
    const ds = structuredClone(byKind('DaemonSet', 'gpuvirt'));
    delete ds.spec.template.spec.containers[0].name;
    ds.spec.template.spec.containers[0].securityContext.priviledged = true;
    ds.spec.template.spec.hostPID = 'yes';
    expect(kubernetesErrors(TYPES.DaemonSet!, ds).sort()).toEqual([
      'DaemonSet.spec.template.spec.containers[0].name: required',
      'DaemonSet.spec.template.spec.containers[0].securityContext.priviledged: unknown field',
      'DaemonSet.spec.template.spec.hostPID: not boolean',
    ].sort());
  });

  it('its container script applies the node\'s config, then labels the node as in it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gpuvirt-ds-'));
    const root = join(dir, 'host');
    cpSync(join(FIXTURES, 'intel-desktop-nvidia'), root, { recursive: true, verbatimSymlinks: true });
    const conf = join(dir, 'config');
    mkdirSync(join(conf, 'host'), { recursive: true });
    mkdirSync(join(conf, 'nodes'));
    writeFileSync(join(conf, 'host/host.yaml'), byKind('ConfigMap', 'gpuvirt-host-config').data['host.yaml']);
    for (const [k, v] of Object.entries(byKind('ConfigMap', 'gpuvirt-node-configs').data)) writeFileSync(join(conf, 'nodes', k), String(v));
    const ds = byKind('DaemonSet', 'gpuvirt');
    // The container's paths moved under the test's directory; one round of the loop.
    const script = String(ds.spec.template.spec.containers[0].args[0])
      .replaceAll('/host/run/', `${root}/run/`).replaceAll(' /run/gpuvirt-k8s/', ` ${root}/run/gpuvirt-k8s/`).replaceAll('/config/', `${conf}/`);
    const shim = [
      'set -u',
      `chroot() { [ "$1" = /host ] && [ "$2" = gpuvirt ] || { echo "unexpected chroot $*" >&2; exit 99; }; shift 2; node ${JSON.stringify(join(REPO, 'bin/gpuvirt'))} "$@"; }`,
      'sleep() { exit 0; }',
    ].join('\n');
    const r = spawnSync('sh', ['-c', `${shim}\n${script}`], {
      encoding: 'utf8', timeout: 120_000,
      env: { PATH: process.env.PATH, NODE_NAME: 'gpu-node-1', INTERVAL: '300', GPUVIRT_ROOT: root, GPUVIRT_SIMULATE: '1' },
    });
    expect(r.status, r.stderr).toBe(0);
    expect(readFileSync(join(root, 'run/gpuvirt-k8s/config'), 'utf8')).toBe('passthrough\n');
    const labels = readFileSync(join(root, 'etc/kubernetes/node-feature-discovery/features.d/gpuvirt'), 'utf8');
    expect(labels).toContain('\ngpuvirt.io/host-config=passthrough\n');
    expect(labels).toContain('\ngpuvirt.io/gpu.0000-01-00.0.driver=vfio-pci\n');
    expect(labels).toContain('\ngpuvirt.io/host-config.asserted=true\n');
  });
});
