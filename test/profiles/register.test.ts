// gpuvirt apply --register on simulated machines, with strict doubles of virsh, qm and pvesh:
// the exact commands in the plan, what runs, and what a rollback undoes (only what the change made).
import { describe, expect, it } from 'vitest';
import type { ExecResult } from '../../src/host/exec.js';
import { dying } from '../helpers/dying.js';
import { machine, type Machine } from '../helpers/sim.js';
import { PROFILES } from '../generate/run.js';

const GAMING = `${PROFILES}nvidia-gaming.yaml`;
const DIR = '/var/lib/gpuvirt/vms/gaming';
const XML = `${DIR}/gaming.xml`;
const OK: ExecResult = { exitCode: 0, stdout: '', stderr: '' };
const fail = (stderr: string): ExecResult => ({ exitCode: 1, stdout: '', stderr });
const NO_DOMAIN = fail("error: failed to get domain 'win11-gaming'\n");
const DUMPXML = 'virsh dumpxml --inactive --security-info --domain win11-gaming';
const DOMINFO = 'virsh dominfo --domain win11-gaming';
const DEFINE = `virsh define --file ${XML}`;

const titles = (r: { doc: any }) => r.doc.data.steps.map((s: { title: string }) => s.title);
const actions = (r: { doc: any }) => r.doc.data.steps.map((s: { action: string }) => s.action);
const ran = (m: Machine) => m.testExec.calls.map((c) => c.join(' '));

function withPrograms(m: Machine, ...names: string[]): Machine {
  for (const n of names) m.host.writeFile(`/usr/bin/${n}`, '', 0o755);
  return m;
}

describe('apply --register libvirt', () => {
  it('--dry-run shows virsh define after the XML is written, and runs only the read-only check', async () => {
    const m = withPrograms(machine('intel-desktop-nvidia', { [DUMPXML]: NO_DOMAIN }), 'virsh');
    const r = await m.run(['apply', GAMING, '--register', 'libvirt', '--no-persist', '--dry-run', '--json']);
    expect(r.code, r.stdout).toBe(0);
    const acts = actions(r);
    expect(acts.indexOf(`run ${DEFINE}`)).toBeGreaterThan(acts.indexOf(`write file ${XML}`));
    expect(acts).toContain(`run ${DOMINFO}`);
    const define = r.doc.data.steps.find((s: { action: string }) => s.action === `run ${DEFINE}`);
    expect(define.undo).toEqual([{ kind: 'run', argv: ['virsh', 'undefine', '--nvram', '--domain', 'win11-gaming'], title: 'undefine win11-gaming, which this change defined', onlyIf: ['virsh', 'dominfo', '--domain', 'win11-gaming'] }]);
    expect(ran(m)).toEqual([DUMPXML]);
    expect(m.host.exists(XML)).toBe(false);
  });

  it('defines the new domain, records it, and a second apply leaves it alone', async () => {
    let defined = false;
    const m = withPrograms(machine('intel-desktop-nvidia', {
      [DUMPXML]: () => (defined ? { ...OK, stdout: '<domain/>' } : NO_DOMAIN),
      [DEFINE]: () => ((defined = true), OK),
      [DOMINFO]: () => (defined ? OK : NO_DOMAIN),
    }), 'virsh');
    const r = await m.run(['apply', GAMING, '--register', 'libvirt', '--no-persist', '--yes', '--json']);
    expect(r.code, r.stdout).toBe(0);
    expect(ran(m)).toEqual([DUMPXML, DEFINE, DOMINFO]);
    expect(m.host.readText(`${DIR}/registered-libvirt.xml`)).toBe(m.host.readText(XML));
    const again = await m.run(['apply', GAMING, '--register', 'libvirt', '--no-persist', '--yes', '--json']);
    expect(again.doc.data.noop).toBe(true);
    expect(ran(m)).toEqual([DUMPXML, DEFINE, DOMINFO, DUMPXML]);
  });

  it('a define that fails is not undone by undefining, and every other step is rolled back', async () => {
    const m = withPrograms(machine('intel-desktop-nvidia', {
      [DUMPXML]: NO_DOMAIN, [DEFINE]: fail('error: Failed to define domain from gaming.xml\n'), [DOMINFO]: NO_DOMAIN,
    }), 'virsh');
    const r = await m.run(['apply', GAMING, '--register', 'libvirt', '--no-persist', '--yes', '--json']);
    expect(r.code).toBe(1);
    expect(r.doc.data.applied.rollback.ok).toBe(true);
    // the undo asked whether the domain is there and, since it is not, undefined nothing
    expect(ran(m)).toEqual([DUMPXML, DEFINE, DOMINFO]);
    expect(m.host.exists(XML)).toBe(false);
    expect(m.drivers(['0000:01:00.0'])['0000:01:00.0']!.driver).not.toBe('vfio-pci');
  });

  it('a failure after the define undefines the domain it defined', async () => {
    let defined = false;
    const UNDEFINE = 'virsh undefine --nvram --domain win11-gaming';
    const m = withPrograms(machine('intel-desktop-nvidia', {
      [DUMPXML]: NO_DOMAIN,
      [DEFINE]: () => ((defined = true), OK),
      [DOMINFO]: () => (defined ? OK : NO_DOMAIN),
      [UNDEFINE]: () => ((defined = false), OK),
    }), 'virsh');
    const plan = await withPrograms(machine('intel-desktop-nvidia', { [DUMPXML]: NO_DOMAIN }), 'virsh').run(['apply', GAMING, '--register', 'libvirt', '--no-persist', '--dry-run', '--json']);
    const record = titles(plan).indexOf('record that win11-gaming was defined from ' + XML);
    expect(record).toBeGreaterThan(0);
    const death = { atStep: record, after: 0, dead: false, faultOnly: true };
    const r = await m.run(['apply', GAMING, '--register', 'libvirt', '--no-persist', '--yes', '--json'], { seams: (h, e) => dying(h, e, death) });
    expect(r.code, r.stdout).toBe(1);
    expect(r.doc.data.applied.rollback.ok).toBe(true);
    expect(ran(m)).toEqual([DUMPXML, DEFINE, DOMINFO, DOMINFO, UNDEFINE]);
    expect(defined).toBe(false);
  });

  it('a domain that exists is refused; --force redefines it and the undo defines the old XML again', async () => {
    const OLD = "<domain type='kvm'><name>win11-gaming</name></domain>\n";
    const BACKUP = '/var/lib/gpuvirt/backups/libvirt/win11-gaming.xml';
    const refused = withPrograms(machine('intel-desktop-nvidia', { [DUMPXML]: { ...OK, stdout: OLD } }), 'virsh');
    const r = await refused.run(['apply', GAMING, '--register', 'libvirt', '--no-persist', '--yes', '--json']);
    expect(r.code).toBe(7);
    expect(r.doc.data.refusals.map((x: { code: string }) => x.code)).toEqual(['libvirt-domain-exists']);
    expect(refused.host.exists(XML)).toBe(false);

    const REDEFINE_OLD = `virsh define --file ${BACKUP}`;
    const m = withPrograms(machine('intel-desktop-nvidia', {
      [DUMPXML]: { ...OK, stdout: OLD }, [DEFINE]: OK, [DOMINFO]: fail('error: something broke\n'), [REDEFINE_OLD]: OK,
    }), 'virsh');
    const f = await m.run(['apply', GAMING, '--register', 'libvirt', '--no-persist', '--yes', '--force', '--json']);
    expect(f.code, f.stdout).toBe(1);
    expect(ran(m)).toEqual([DUMPXML, DEFINE, DOMINFO, REDEFINE_OLD]);
    expect(f.doc.data.applied.rollback.ok).toBe(true);
    // the backup went with the rollback, after it was defined again
    expect(m.host.exists(BACKUP)).toBe(false);
    expect(ran(m)).not.toContain('virsh undefine --nvram --domain win11-gaming');
  });

  it('without virsh the register step is refused, and nothing changes', async () => {
    const m = machine('intel-desktop-nvidia');
    const r = await m.run(['apply', GAMING, '--register', 'libvirt', '--no-persist', '--yes', '--json']);
    expect(r.code).toBe(7);
    expect(r.doc.data.refusals[0].code).toBe('virsh-missing');
    expect(m.host.exists(XML)).toBe(false);
  });
});

describe('apply --register proxmox', () => {
  const NEXTID = 'pvesh get /cluster/nextid --vmid 101';
  const CONFIG = 'qm config 101';

  async function commands(): Promise<string[]> {
    const g = await machine('intel-desktop-nvidia').run(['generate', GAMING, '--target', 'proxmox', '--json']);
    return g.doc.data.proxmox.commands.map((c: string[]) => c.join(' '));
  }

  it('runs the commands artifact step by step; a failing qm create deletes the mapping it made', async () => {
    const [mapping, create] = await commands();
    expect(mapping).toMatch(/^pvesh create \/cluster\/mapping\/pci --id vm101-dev0 /);
    expect(create).toMatch(/^qm create 101 /);
    const m = withPrograms(machine('intel-desktop-nvidia', {
      [NEXTID]: { ...OK, stdout: '101\n' },
      [mapping!]: OK,
      [create!]: fail("unable to create VM 101 - storage 'local-lvm' does not exist\n"),
      [CONFIG]: fail("Configuration file 'nodes/pve1/qemu-server/101.conf' does not exist\n"),
      'pvesh get /cluster/mapping/pci/vm101-dev0': OK,
      'pvesh delete /cluster/mapping/pci/vm101-dev0': OK,
    }), 'qm', 'pvesh');
    const dry = await m.run(['apply', GAMING, '--register', 'proxmox', '--no-persist', '--dry-run', '--json']);
    expect(actions(dry).slice(-5, -1)).toEqual([`run ${mapping}`, `run ${create}`, `run ${CONFIG}`, `write file ${DIR}/registered-proxmox-101.sh`]);
    const r = await m.run(['apply', GAMING, '--register', 'proxmox', '--no-persist', '--yes', '--json']);
    expect(r.code).toBe(1);
    expect(r.doc.data.applied.rollback.ok).toBe(true);
    // no qm destroy: the VM was never created
    expect(ran(m)).toEqual([NEXTID, NEXTID, mapping, create, CONFIG, 'pvesh get /cluster/mapping/pci/vm101-dev0', 'pvesh delete /cluster/mapping/pci/vm101-dev0']);
  });

  it('a VMID that is taken is refused, unless gpuvirt created it from this very profile', async () => {
    const [mapping, create] = await commands();
    const TAKEN = fail('400 Parameter verification failed.\nvmid: VM 101 already exists\n');
    // (register-update.test.ts: what --force does with it)
    const refused = withPrograms(machine('intel-desktop-nvidia', { [NEXTID]: TAKEN, [CONFIG]: { ...OK, stdout: 'memory: 2048\nname: someone-elses\n' } }), 'qm', 'pvesh');
    const r = await refused.run(['apply', GAMING, '--register', 'proxmox', '--no-persist', '--yes', '--json']);
    expect(r.code).toBe(7);
    expect(r.doc.data.refusals[0]).toMatchObject({ code: 'proxmox-vmid-exists', force: expect.stringMatching(/^update VM 101 with `qm set 101`/) });

    let created = false;
    const m = withPrograms(machine('intel-desktop-nvidia', {
      [NEXTID]: () => (created ? TAKEN : { ...OK, stdout: '101\n' }), [mapping!]: OK, [create!]: () => ((created = true), OK), [CONFIG]: OK,
    }), 'qm', 'pvesh');
    expect((await m.run(['apply', GAMING, '--register', 'proxmox', '--no-persist', '--yes', '--json'])).code).toBe(0);
    const again = await m.run(['apply', GAMING, '--register', 'proxmox', '--no-persist', '--yes', '--json']);
    expect(again.code, again.stdout).toBe(0);
    expect(again.doc.data.noop).toBe(true);
  });
});

describe('apply --register qemu', () => {
  it('says the QEMU target has nothing to register', async () => {
    const m = machine('intel-desktop-nvidia');
    const r = await m.run(['apply', GAMING, '--register', 'qemu', '--no-persist', '--dry-run', '--json']);
    expect(r.code).toBe(0);
    expect(r.doc.warnings.join('\n')).toMatch(/the QEMU target has nothing to register: its script \/var\/lib\/gpuvirt\/vms\/gaming\/gaming.sh is the VM/);
    expect(ran(m)).toEqual([]);
  });

  it('an unknown target is a usage error', async () => {
    const r = await machine('intel-desktop-nvidia').run(['apply', GAMING, '--register', 'vmware', '--dry-run', '--json']);
    expect(r.code).toBe(2);
  });
});
