#!/usr/bin/python
# -*- coding: utf-8 -*-
# The module is a thin shell around the gpuvirt binary: gpuvirt plans, applies, verifies and
# rolls back; this file only maps Ansible's modes onto its commands and passes its JSON on.
from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: gpuvirt_host
short_description: Make a GPU host match a named gpuvirt host config
description:
  - Runs C(gpuvirt host apply) with the host config file and config name given, as one change
    (boot parameters and vfio modules, SR-IOV VF counts, passthrough bindings) that gpuvirt rolls
    back on any failure.
  - In check mode runs C(gpuvirt host diff) instead and changes nothing.
  - Never reboots; returns C(reboot_required) when the kernel command line configured is not the running one.
options:
  file:
    description: Path of the host config file on the managed node.
    type: path
    required: true
  config:
    description: Name of the config in the file.
    type: str
    required: true
  force:
    description: Go past the refusals gpuvirt's --force can override.
    type: bool
    default: false
  persist:
    description:
      - Also apply this config at every boot (C(gpuvirt host apply --persist)) - a copy of the file
        in /etc/gpuvirt/host.yaml and gpuvirt-host.service, enabled. C(gpuvirt host unpersist) removes them.
      - Check mode reports the host's differences, not whether that boot record would change.
    type: bool
    default: false
  executable:
    description: The gpuvirt program.
    type: str
    default: gpuvirt
  root:
    description: Host root to work on (gpuvirt --root), for snapshots and test trees.
    type: path
requirements: [gpuvirt]
supports_check_mode: true
'''

RETURN = r'''
reboot_required:
  description: A reboot is needed for the configured kernel command line to take effect.
  type: bool
  returned: always
differences:
  description: Each difference as gpuvirt found it (subject, name, field, before, after).
  type: list
  returned: always
gpuvirt:
  description: The data of gpuvirt's JSON document.
  type: dict
  returned: always
'''

import json

from ansible.module_utils.basic import AnsibleModule


def main():
    module = AnsibleModule(
        argument_spec=dict(
            file=dict(type='path', required=True),
            config=dict(type='str', required=True),
            force=dict(type='bool', default=False),
            persist=dict(type='bool', default=False),
            executable=dict(type='str', default='gpuvirt'),
            root=dict(type='path'),
        ),
        supports_check_mode=True,
    )
    p = module.params
    exe = module.get_bin_path(p['executable'], required=True)
    argv = [exe, 'host', 'diff' if module.check_mode else 'apply', '-f', p['file'], '-c', p['config'], '--json']
    if not module.check_mode:
        argv.append('--yes')
        if p['force']:
            argv.append('--force')
        if p['persist']:
            argv.append('--persist')
    if p['root']:
        argv += ['--root', p['root']]
    rc, out, err = module.run_command(argv)
    try:
        doc = json.loads(out)
    except ValueError:
        module.fail_json(msg='gpuvirt printed no JSON document (exit status %d): %s' % (rc, (err or out).strip()), rc=rc)
    if 'error' in doc:
        e = doc['error']
        msg = e.get('message', 'gpuvirt failed')
        if e.get('hint'):
            msg = '%s (%s)' % (msg, e['hint'])
        module.fail_json(msg=msg, rc=rc, code=e.get('code'))
    data = doc.get('data', {})
    result = dict(
        changed=bool(data.get('changed')),
        msg=data.get('msg', ''),
        reboot_required=bool(data.get('reboot_required')),
        differences=data.get('differences', []),
        gpuvirt=data,
        rc=rc,
    )
    if module._diff:
        result['diff'] = data.get('diff', {})
    if data.get('failed') or rc != 0:
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
