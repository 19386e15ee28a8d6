import t from 'tap';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MAX_NAME_BYTES, numberedName, sanitizeFileName, saveUnder } from '../../src/client/file-names.js';

t.test('hostile names become plain names in the download folder', async (t) => {
  const cases: [string, string][] = [
    ['photo.jpg', 'photo.jpg'],
    ['../../etc/passwd', 'etc_passwd'],
    ['a/b', 'a_b'],
    ['..', 'file'],
    ['.', 'file'],
    ['/', 'file'],
    ['..\\..\\windows\\system32\\x.dll', 'windows_system32_x.dll'],
    ['.bashrc', 'bashrc'],
    ['...hidden..txt', 'hidden.txt'],
    ['evil\nname.txt', 'evil_name.txt'],
    ['bell\u0007\r\u001b[31mred', 'bell___[31mred'],
    ['invoice\u202egpj.exe', 'invoice_gpj.exe'],
    ['a:b*c?.txt', 'a_b_c_.txt'],
    ['CON', '_CON'],
    ['nul.txt', '_nul.txt'],
    ['trailing. . .', 'trailing'],
    ['  spaced  .txt', 'spaced  .txt'],
  ];
  for (const [offered, expected] of cases) t.equal(sanitizeFileName(offered), expected, JSON.stringify(offered));
  for (const [offered] of cases) {
    const name = sanitizeFileName(offered);
    t.notMatch(name, /[/\\\u0000-\u001f]|\.\.|^\./, `${JSON.stringify(offered)}: no separator, control, "..", leading dot`);
  }
});

t.test('long names are cut to a bounded length, keeping the extension and whole characters', async (t) => {
  const long = sanitizeFileName(`${'x'.repeat(500)}.jpeg`);
  t.equal(Buffer.byteLength(long), MAX_NAME_BYTES);
  t.match(long, /^x+\.jpeg$/);
  const wide = sanitizeFileName(`${'é'.repeat(300)}.txt`);
  t.ok(Buffer.byteLength(wide) <= MAX_NAME_BYTES);
  t.match(wide, /^é+\.txt$/, 'no character cut in half');
  t.equal(Buffer.byteLength(sanitizeFileName('y'.repeat(500))), MAX_NAME_BYTES);
});

t.test('numbered names', async (t) => {
  t.equal(numberedName('photo.jpg', 0), 'photo.jpg');
  t.equal(numberedName('photo.jpg', 1), 'photo (1).jpg');
  t.equal(numberedName('archive.tar.gz', 2), 'archive.tar (2).gz');
  t.equal(numberedName('README', 3), 'README (3)');
});

t.test('saving never overwrites: photo.jpg, photo (1).jpg, photo (2).jpg', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lanchat-names-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'photo.jpg'), 'mine');
  for (const body of ['first', 'second']) {
    const tmp = join(dir, `.part-${body}`);
    writeFileSync(tmp, body);
    await saveUnder(tmp, dir, 'photo.jpg');
  }
  t.same(readdirSync(dir).sort(), ['photo (1).jpg', 'photo (2).jpg', 'photo.jpg'], 'temporary files gone');
  t.equal(readFileSync(join(dir, 'photo.jpg'), 'utf8'), 'mine', 'the existing file is untouched');
  t.equal(readFileSync(join(dir, 'photo (1).jpg'), 'utf8'), 'first');
  t.equal(readFileSync(join(dir, 'photo (2).jpg'), 'utf8'), 'second');
});
