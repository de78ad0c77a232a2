import yaml from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { checkConfigText, renderConfig } from '../../../lib/render/config';

const doc = (format: Parameters<typeof renderConfig>[0]['format'], template: string) => ({ id: 't', format, template });

describe('installer config templates', () => {
  const UD = '#cloud-config\nhostname: {{hostname}}\nwrite_files:\n  - path: /etc/motd\n    content: {{params.motd}}\n';

  it('keeps every hostile value inside its own YAML scalar', () => {
    const hostile = [
      'a\nruncmd: [reboot]', 'x: y', '"quoted"', "it's", '{{params.other}}', '- item', '# comment', '| block', '&anchor *ref', 'tab\there', '\u2028sep', 'back\\slash', '}}', '',
    ];
    for (const motd of hostile) {
      const out = renderConfig(doc('cloud-config', UD), { hostname: 'web-1', params: { motd } });
      const parsed = yaml.load(out.text) as { hostname: string; write_files: Array<{ content: string }>; runcmd?: unknown };
      expect(parsed.write_files[0].content, JSON.stringify(motd)).toBe(motd);
      expect(Object.keys(parsed).sort()).toEqual(['hostname', 'write_files']);
    }
  });

  it('renders json values for Ignition and checks the spec version', () => {
    const ign = '{"ignition":{"version":"3.4.0"},"storage":{"files":[{"path":"/etc/hostname","contents":{"source":{{source:json}}}}]},"passwd":{"users":[{"name":"core","sshAuthorizedKeys":{{params.keys:json}}}]}}';
    const out = renderConfig(doc('ignition', ign), { source: 'data:,web-1%0A', params: { keys: ['ssh-ed25519 AAAA x"y'] } });
    const parsed = JSON.parse(out.text) as { passwd: { users: Array<{ sshAuthorizedKeys: string[] }> } };
    expect(parsed.passwd.users[0].sshAuthorizedKeys).toEqual(['ssh-ed25519 AAAA x"y']);
    expect(() => checkConfigText('t', 'ignition', '{"ignition":{"version":"2.2.0"}}')).toThrow(/3\.x\.y/);
    expect(() => checkConfigText('t', 'ignition', '{"ignition":')).toThrow(/JSON/);
  });

  it('refuses a line value with a newline (preseed, Kickstart) and unsafe tokens', () => {
    const ps = 'd-i netcfg/get_hostname string {{hostname:line}}\nd-i passwd/root-password password {{secrets.root:line}}\n';
    const ok = renderConfig(doc('preseed', ps), { hostname: 'web-1', secrets: { root: 'pa ss' } });
    expect(ok.containsSecret).toBe(true);
    expect(ok.text).toContain('password pa ss\n');
    expect(() => renderConfig(doc('preseed', ps), { hostname: 'web-1\nd-i partman/choose_partition select finish', secrets: { root: 'x' } })).toThrow(/field "hostname": a line value may not hold a newline/);
    expect(() => renderConfig(doc('kickstart', 'url --url={{params.mirror:url}}\n'), { params: { mirror: 'http://x/$(reboot)' } })).toThrow(/field "params.mirror"/);
  });

  it('names what is missing and where a template is malformed', () => {
    expect(() => renderConfig(doc('cloud-config', UD), { hostname: 'a', params: {} })).toThrow(/no value for "params.motd"/);
    expect(() => renderConfig(doc('text', 'a\n{{x:shell}}\n'), { x: 1 })).toThrow(/line 2: placeholder "x" has unknown kind "shell"/);
    expect(() => renderConfig(doc('text', 'a\nb {{ x\n'), { x: 1 })).toThrow(/line 2: malformed placeholder/);
  });

  it('checks each format with its own rules, errors naming the line', () => {
    expect(() => checkConfigText('t', 'cloud-config', 'hostname: a\n')).toThrow(/line 1: .*#cloud-config/);
    expect(() => checkConfigText('t', 'cloud-config', '#cloud-config\nusers:\n  - name: a\n   bad: [\n')).toThrow(/YAML line \d/);
    expect(() => checkConfigText('t', 'autoinstall', '#cloud-config\nautoinstall:\n  version: 2\n')).toThrow(/version: 1/);
    expect(() => checkConfigText('t', 'talos', 'version: v1alpha1\ncluster: {}\n')).toThrow(/machine/);
    expect(() => checkConfigText('t', 'preseed', 'd-i ok string x\nbroken\n')).toThrow(/line 2: a preseed line/);
    checkConfigText('t', 'preseed', 'd-i preseed/late_command string \\\n  in-target true\n');
    checkConfigText('t', 'autoinstall', '#cloud-config\nautoinstall:\n  version: 1\n');
  });
});
