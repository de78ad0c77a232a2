/**
 * Printing a probe report: a human-readable page (default) or one JSON document (`--json`).
 */
import type { Diagnosis, ProbeReport, StageResult } from './types';

const STATUS_LABEL: Record<StageResult['status'], string> = { ok: 'ok', warn: 'WARN', fail: 'FAIL', skip: 'skip' };

export function formatStage(s: StageResult): string {
  return `  ${STATUS_LABEL[s.status].padEnd(4)} ${String(s.ms).padStart(6)} ms  ${s.name}: ${s.summary}`;
}

function formatDiagnosis(d: Diagnosis): string {
  return `  ${d.severity.padEnd(7)} ${d.code}: ${d.message}`;
}

export function formatHuman(r: ProbeReport): string {
  const lines: string[] = [];
  const who = [`as ${r.kind}`, `mac ${r.mac}`];
  if (r.serial) who.push(`serial ${r.serial}`);
  who.push(`xid 0x${r.xid.toString(16).padStart(8, '0')}`);
  if (r.server) who.push(`expected server ${r.server}`);
  lines.push(`netboot-probe ${who.join(', ')}`);
  lines.push('Stages:');
  for (const s of r.stages) lines.push(formatStage(s));
  if (r.files.length) {
    lines.push('Files:');
    for (const f of r.files) lines.push(`  ${f.name}  ${f.bytes} bytes${f.announced !== undefined ? ` (announced ${f.announced})` : ''}  sha256 ${f.sha256 ?? '-'}  via ${f.via} ${f.source}`);
  }
  if (r.diagnoses.length) {
    lines.push('Diagnosis:');
    for (const d of r.diagnoses) lines.push(formatDiagnosis(d));
  }
  lines.push(r.exitCode === 0 ? `Result: the ${r.kind} boot would work (${r.durationMs} ms).` : `Result: the ${r.kind} boot would fail (${r.durationMs} ms).`);
  return lines.join('\n');
}

export function formatJson(r: ProbeReport): string {
  return JSON.stringify({ ok: r.exitCode === 0, ...r }, null, 2);
}
