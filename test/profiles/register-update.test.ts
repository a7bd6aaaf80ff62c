// apply --register proxmox --force on a VMID that exists: the VM is updated with `qm set` (the
// conf's keys that differ), and a failure afterwards sets its previous values back and deletes
// the keys it did not have. qm is a strict double over a model of the VM's config, changed by
// `qm set` (values and `--delete a,b`) and printed by `qm config` as qemu-server's CLI prints it.
import { describe, expect, it } from 'vitest';
import type { ExecResult } from '../../src/host/exec.js';
import { keepMac, parseQmConfig } from '../../src/profiles/register.js';
import { dying } from '../helpers/dying.js';
import { machine, type Machine } from '../helpers/sim.js';
import { PROFILES } from '../generate/run.js';

const GAMING = `${PROFILES}nvidia-gaming.yaml`;
const OK: ExecResult = { exitCode: 0, stdout: '', stderr: '' };
const NEXTID = 'pvesh get /cluster/nextid --vmid 101';
const TAKEN: ExecResult = { exitCode: 2, stdout: '', stderr: '400 Parameter verification failed.\nvmid: VM 101 already exists\n' };
const CONFIG = 'qm config 101';
const MARKER = '/var/lib/gpuvirt/vms/gaming/registered-proxmox-101.sh';
const MAPPING = 'pvesh create /cluster/mapping/pci --id vm101-dev0 --map id=10de:2204,iommugroup=8,node=pve1,path=0000:01:00,subsystem-id=1043:87b3 --description gpuvirt: gaming (VM 101) devices[0]';

/** VM 101 as someone made it by hand: another name and size, its own disks, a MAC Proxmox gave its NIC, another GPU. */
const BEFORE: Record<string, string> = {
  balloon: '0', bios: 'ovmf', boot: 'order=scsi0', cores: '4', cpu: 'host',
  efidisk0: 'local-lvm:vm-101-disk-0,efitype=4m,pre-enrolled-keys=1,size=4M', hostpci1: '0000:02:00.0', machine: 'q35', memory: '8192',
  meta: 'creation-qemu=8.1.5,ctime=1700000000', name: 'old-gaming', net0: 'virtio=BC:24:11:AA:BB:CC,bridge=vmbr0,firewall=1', ostype: 'win11',
  scsi0: 'local-lvm:vm-101-disk-1,iothread=1,size=128G', scsihw: 'virtio-scsi-single', sockets: '1',
};
const SET = ['qm', 'set', '101', '--name', 'gaming', '--cores', '12', '--memory', '16384', '--affinity', '4,5,6,7,8,9,10,11,12,13,14,15', '--hugepages', '2',
  '--vga', 'none', '--net0', 'virtio=BC:24:11:AA:BB:CC,bridge=vmbr0', '--args', '-fw_cfg name=opt/ovmf/X-PciMmio64Mb,string=65536', '--hostpci0', 'mapping=vm101-dev0,pcie=1'];
const UNDO = ['qm', 'set', '101', '--name', 'old-gaming', '--cores', '4', '--memory', '8192', '--net0', 'virtio=BC:24:11:AA:BB:CC,bridge=vmbr0,firewall=1',
  '--delete', 'affinity,hugepages,vga,args,hostpci0'];

/** The VM's config, as `qm set` changes it and `qm config` prints it (sorted, no digest). */
class FakeVm {
  config = new Map(Object.entries(BEFORE));
  print(): ExecResult {
    return { ...OK, stdout: [...this.config.keys()].sort().map((k) => `${k}: ${this.config.get(k)}\n`).join('') };
  }
  set(argv: readonly string[]): ExecResult {
    const args = argv.slice(3);
    for (let i = 0; i < args.length; i += 2) {
      const key = args[i]!.slice(2);
      if (key === 'delete') for (const k of args[i + 1]!.split(',')) this.config.delete(k);
      else this.config.set(key, args[i + 1]!);
    }
    return OK;
  }
}

function proxmoxNode(vm: FakeVm, extra: Record<string, ExecResult | (() => ExecResult)> = {}): Machine {
  const m = machine('intel-desktop-nvidia', { [NEXTID]: TAKEN, [CONFIG]: () => vm.print(), ...extra });
  for (const n of ['qm', 'pvesh']) m.host.writeFile(`/usr/bin/${n}`, '', 0o755);
  return m;
}
const argv = (...more: string[]) => ['apply', GAMING, '--register', 'proxmox', '--no-persist', ...more];
const ran = (m: Machine) => m.testExec.calls.map((c) => c.join(' '));

describe('apply --register proxmox on a VMID that exists', () => {
  it('is refused without --force, naming what --force would do; nothing runs but the reads', async () => {
    const vm = new FakeVm();
    const m = proxmoxNode(vm);
    const r = await m.run(argv('--yes', '--json'));
    expect(r.code).toBe(7);
    expect(r.doc.data.refusals).toEqual([{
      code: 'proxmox-vmid-exists',
      message: 'VM 101 exists in this cluster and gpuvirt did not create it from this profile',
      force: 'update VM 101 with `qm set 101`: name, cores, memory, affinity, hugepages, vga, net0, args, hostpci0 set to the profile\'s values; '
        + 'if the change fails, the previous values are set again and affinity, hugepages, vga, args, hostpci0 deleted',
    }]);
    expect(ran(m)).toEqual([NEXTID, CONFIG]);
    expect(m.host.exists('/var/lib/gpuvirt/vms/gaming')).toBe(false);
    expect(Object.fromEntries(vm.config)).toEqual(BEFORE);
  });

  it('--dry-run prints the plan: the mapping, one qm set of what differs with its undo as data, the check, the record', async () => {
    const vm = new FakeVm();
    const m = proxmoxNode(vm);
    const dry = await m.run(argv('--force', '--dry-run', '--json'));
    expect(dry.code, dry.stdout).toBe(0);
    const steps = dry.doc.data.steps.slice(-5, -1); // the state file is written last
    expect(steps.map((s: { action: string }) => s.action)).toEqual([`run ${MAPPING}`, `run ${SET.join(' ')}`, `run ${CONFIG}`, `write file ${MARKER}`]);
    expect(steps[1].undo).toEqual([{ kind: 'run', argv: UNDO, title: 'set VM 101\'s previous name, cores, memory, affinity, hugepages, vga, net0, args, hostpci0 back, deleting affinity, hugepages, vga, args, hostpci0' }]);
    expect(dry.doc.warnings).toEqual(expect.arrayContaining([
      'VM 101 has no tpmstate0: an update does not allocate volumes (`qm create` in proxmox-101.sh does); add them by hand',
      'VM 101 has hostpci1, which the profile does not: left as it is (`qm set 101 --delete hostpci1` removes it)',
    ]));
    const text = await m.run(argv('--force', '--dry-run'));
    expect(text.stdout).toContain('update VM 101: name, cores, memory');
    expect(ran(m)).toEqual([NEXTID, CONFIG, NEXTID, CONFIG]);
    expect(Object.fromEntries(vm.config)).toEqual(BEFORE);
  });

  it('--force updates the VM, keeping its disks and its NIC\'s MAC; applying again changes nothing', async () => {
    const vm = new FakeVm();
    const m = proxmoxNode(vm, { [MAPPING]: OK, [SET.join(' ')]: () => vm.set(SET) });
    const r = await m.run(argv('--force', '--yes', '--json'));
    expect(r.code, r.stdout).toBe(0);
    expect(ran(m)).toEqual([NEXTID, CONFIG, MAPPING, SET.join(' '), CONFIG]);
    expect(Object.fromEntries(vm.config)).toEqual({
      ...BEFORE, name: 'gaming', cores: '12', memory: '16384', affinity: '4,5,6,7,8,9,10,11,12,13,14,15', hugepages: '2', vga: 'none',
      net0: 'virtio=BC:24:11:AA:BB:CC,bridge=vmbr0', args: '-fw_cfg name=opt/ovmf/X-PciMmio64Mb,string=65536', hostpci0: 'mapping=vm101-dev0,pcie=1',
    });
    expect(m.host.readText(MARKER)).toBe(m.host.readText('/var/lib/gpuvirt/vms/gaming/proxmox-101.sh'));
    const again = await m.run(argv('--force', '--yes', '--json'));
    expect(again.doc.data.noop, again.stdout).toBe(true);
  });

  it('a failure after qm set puts the old config back exactly, and deletes the mapping it made', async () => {
    const vm = new FakeVm();
    const m = proxmoxNode(vm, {
      [MAPPING]: OK, [SET.join(' ')]: () => vm.set(SET), [UNDO.join(' ')]: () => vm.set(UNDO),
      'pvesh get /cluster/mapping/pci/vm101-dev0': OK, 'pvesh delete /cluster/mapping/pci/vm101-dev0': OK,
    });
    const plan = (await m.run(argv('--force', '--dry-run', '--json'))).doc.data.steps;
    m.testExec.calls.length = 0;
    const death = { atStep: plan.findIndex((s: { path?: string }) => s.path === MARKER), after: 0, dead: false, faultOnly: true };
    const r = await m.run(argv('--force', '--yes', '--json'), { seams: (h, e) => dying(h, e, death) });
    expect(r.code, r.stdout).toBe(1);
    expect(r.doc.data.applied.rollback.ok).toBe(true);
    expect(ran(m)).toEqual([NEXTID, CONFIG, MAPPING, SET.join(' '), CONFIG, UNDO.join(' '), 'pvesh get /cluster/mapping/pci/vm101-dev0', 'pvesh delete /cluster/mapping/pci/vm101-dev0']);
    expect(Object.fromEntries(vm.config)).toEqual(BEFORE);
    expect(m.host.exists(MARKER)).toBe(false);
  });

  it('a VM on another node (qm config cannot read it here) is refused, --force or not', async () => {
    const m = proxmoxNode(new FakeVm(), {});
    m.testExec.allowed[CONFIG] = { exitCode: 2, stdout: '', stderr: "Configuration file 'nodes/pve1/qemu-server/101.conf' does not exist\n" };
    const r = await m.run(argv('--force', '--yes', '--json'));
    expect(r.code).toBe(7);
    expect(r.doc.data.refusals).toEqual([expect.objectContaining({ code: 'proxmox-vm-elsewhere', force: null })]);
  });
});

describe('qm config as gpuvirt reads it', () => {
  it('key: value lines up to a snapshot section', () => {
    expect([...parseQmConfig('cores: 4\ndescription: a%20b\nnet0: virtio=BC:24:11:AA:BB:CC,bridge=vmbr0\n\n[snap1]\ncores: 2\n')])
      .toEqual([['cores', '4'], ['description', 'a%20b'], ['net0', 'virtio=BC:24:11:AA:BB:CC,bridge=vmbr0']]);
  });

  it('a NIC keeps its MAC only when the profile gives none and the model is the same', () => {
    expect(keepMac('net0', 'virtio,bridge=vmbr1', 'virtio=BC:24:11:AA:BB:CC,bridge=vmbr0')).toBe('virtio=BC:24:11:AA:BB:CC,bridge=vmbr1');
    expect(keepMac('net0', 'e1000,bridge=vmbr0', 'virtio=BC:24:11:AA:BB:CC,bridge=vmbr0')).toBe('e1000,bridge=vmbr0');
    expect(keepMac('net0', 'virtio=02:00:00:00:00:01,bridge=vmbr0', 'virtio=BC:24:11:AA:BB:CC,bridge=vmbr0')).toBe('virtio=02:00:00:00:00:01,bridge=vmbr0');
    expect(keepMac('memory', '16384', '8192')).toBe('16384');
    expect(keepMac('net1', 'virtio,bridge=vmbr0', undefined)).toBe('virtio,bridge=vmbr0');
  });
});
