// The registry: every subcommand, in the order `gpuvirt --help` lists them.
import type { AnyCommand } from './command.js';
import { doctor } from './doctor.js';
import { list } from './list.js';
import { passthrough } from './passthrough.js';
import { release } from './release.js';
import { status } from './status.js';
import { sriovDisable } from './sriov/disable.js';
import { sriovEnable } from './sriov/enable.js';
import { sriovStatus } from './sriov/status.js';
import { mdevTypes } from './mdev/types.js';
import { mdevCreate, mdevRemove } from './mdev/create.js';
import { snapshot } from './snapshot.js';
import { profileValidate } from './profile/validate.js';
import { profileSchemaCommand } from './profile/schema.js';
import { generate } from './generate.js';
import { setup } from './setup.js';
import { cmdline } from './cmdline.js';

export const commands: AnyCommand[] = [doctor, list, passthrough, release, status, sriovStatus, sriovEnable, sriovDisable, mdevTypes, mdevCreate, mdevRemove, snapshot, setup, cmdline, profileValidate, profileSchemaCommand, generate];
