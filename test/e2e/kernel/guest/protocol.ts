// The lines the guest program sends over its results port, read back by the host:
//   @@gpuvirt-e2e begin {"machine":"intel"}
//   @@result {"scenario":"...","check":"...","status":"pass","detail":"...","ms":123}
//   @@artifact {"name":"snapshot.tar.gz","base64":"..."}   (a file sent back, in fixtures mode)
//   @@gpuvirt-e2e end {"count":42}
// Anything else on the port is ignored; a missing end line means the guest died mid-way.

export type Status = 'pass' | 'fail';

export interface CheckResult {
  scenario: string;
  check: string;
  status: Status;
  detail: string;
  /** How long the scenario had been running when this check was decided. */
  ms: number;
}

export interface GuestReport {
  begun: boolean;
  ended: boolean;
  results: CheckResult[];
  /** Facts the guest reports about itself (kernel, node, timings). */
  info: Record<string, unknown>;
  /** Files the guest sent back, by name. */
  artifacts: Record<string, Buffer>;
}

export interface Artifact {
  name: string;
  base64: string;
}

export const BEGIN = '@@gpuvirt-e2e begin ';
export const RESULT = '@@result ';
export const END = '@@gpuvirt-e2e end ';
export const ARTIFACT = '@@artifact ';

export function resultKey(scenario: string, check: string): string {
  return `${scenario} :: ${check}`;
}

export function parseResults(raw: string): GuestReport {
  const report: GuestReport = { begun: false, ended: false, results: [], info: {}, artifacts: {} };
  for (const line of raw.split(/\r?\n/)) {
    try {
      if (line.startsWith(BEGIN)) {
        report.begun = true;
        Object.assign(report.info, JSON.parse(line.slice(BEGIN.length)));
      } else if (line.startsWith(RESULT)) report.results.push(JSON.parse(line.slice(RESULT.length)) as CheckResult);
      else if (line.startsWith(ARTIFACT)) {
        const a = JSON.parse(line.slice(ARTIFACT.length)) as Artifact;
        report.artifacts[a.name] = Buffer.from(a.base64, 'base64');
      } else if (line.startsWith(END)) {
        report.ended = true;
        Object.assign(report.info, JSON.parse(line.slice(END.length)));
      }
    } catch {
      // a line cut short by a dying guest: the missing check reports itself as not run
    }
  }
  return report;
}
