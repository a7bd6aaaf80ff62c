// The steps each vendor path takes to enable or disable VFs.
import { paths } from '../host/paths.js';
import type { Step } from '../mutate/steps.js';
import type { PfInfo } from './detect.js';
import { autoprobeOffStep, bindVfSteps, planDisableSteps, planEnableSteps, VF_TIMEOUT_MS, type EnableRequest } from './plan.js';
import type { AdapterId } from './vendors.js';

export function planEnableFor(adapter: AdapterId, pf: PfInfo, req: EnableRequest): Step[] {
  switch (adapter) {
    case 'generic':
    case 'intel':
      return planEnableSteps(pf, req);
    case 'amd-gim': {
      // GIM refuses sriov_numvfs; it reads vf_num at load. The count goes on the modprobe line,
      // which wins over modprobe.d: the persist file is written after the reload, so relying on
      // it here would load the old count.
      if (pf.sriov.numVfs === req.numVfs) return bindVfSteps(pf, req, false);
      const load = ['modprobe', 'gim', `vf_num=${req.numVfs}`];
      return [
        ...(req.bind ? autoprobeOffStep(pf) : []),
        { kind: 'exec', argv: ['modprobe', '-r', 'gim'], title: 'unload gim (its VFs go with it)' },
        { kind: 'exec', argv: load, title: `load gim with ${req.numVfs} VFs per GPU` },
        { kind: 'wait-vfs', pf: pf.address, count: req.numVfs, timeoutMs: VF_TIMEOUT_MS * 4, title: `${req.numVfs} VFs of ${pf.address} are there` },
        ...bindVfSteps(pf, req, true),
      ];
    }
    case 'nvidia':
      if (pf.sriov.numVfs === req.numVfs) return bindVfSteps(pf, req, false);
      return [
        ...(req.bind ? autoprobeOffStep(pf) : []),
        { kind: 'exec', argv: [paths.nvidiaSriovManage, '-e', pf.address], title: `enable the VFs of ${pf.address} with sriov-manage` },
        { kind: 'wait-vfs', pf: pf.address, count: req.numVfs, timeoutMs: VF_TIMEOUT_MS, title: `${req.numVfs} VFs of ${pf.address} are there` },
        ...bindVfSteps(pf, req, true),
      ];
  }
}

export function planDisableFor(adapter: AdapterId, pf: PfInfo): Step[] {
  if (pf.sriov.numVfs === 0) return [];
  switch (adapter) {
    case 'generic':
    case 'intel':
      return planDisableSteps(pf);
    case 'amd-gim':
      return [
        { kind: 'exec', argv: ['modprobe', '-r', 'gim'], title: 'unload gim (the VFs of every GIM GPU go with it)' },
        { kind: 'wait-vfs', pf: pf.address, count: 0, timeoutMs: VF_TIMEOUT_MS, title: `the VFs of ${pf.address} are gone` },
      ];
    case 'nvidia':
      return [
        { kind: 'exec', argv: [paths.nvidiaSriovManage, '-d', pf.address], title: `disable the VFs of ${pf.address} with sriov-manage` },
        { kind: 'wait-vfs', pf: pf.address, count: 0, timeoutMs: VF_TIMEOUT_MS, title: `the VFs of ${pf.address} are gone` },
      ];
  }
}
