// Mark one symbol-version requirement weak (VER_FLG_WEAK) in an ELF64
// shared object, in place: node elf_weaken.mjs FILE VERSION...
//
// The Rust runtime's npm build (@actrium/actr-linux-x64-gnu) asks for
// GLIBC_2.39 only for two weak symbols (pidfd_spawnp, pidfd_getpid); Debian
// 12 has glibc 2.36, so the loader refuses the file although nothing in it
// needs 2.39. With the requirement weak, the loader accepts it and the two
// symbols resolve to NULL (std checks them before use). Nothing else in
// the file changes.
import { readFileSync, writeFileSync } from 'node:fs';

const VER_FLG_WEAK = 0x2;
const [file, ...want] = process.argv.slice(2);
if (!file || !want.length) {
	console.error('usage: elf_weaken.mjs FILE VERSION...');
	process.exit(2);
}
const b = readFileSync(file);
if (b.readUInt32BE(0) !== 0x7f454c46 || b[4] !== 2 || b[5] !== 1) {
	console.error(`${file}: not a little-endian ELF64 file`);
	process.exit(1);
}
const shoff = Number(b.readBigUInt64LE(0x28));
const shentsize = b.readUInt16LE(0x3a), shnum = b.readUInt16LE(0x3c);
const shstrndx = b.readUInt16LE(0x3e);
const sec = (i) => {
	const o = shoff + i * shentsize;
	return {
		name: b.readUInt32LE(o), type: b.readUInt32LE(o + 4),
		off: Number(b.readBigUInt64LE(o + 0x18)),
		link: b.readUInt32LE(o + 0x28), info: b.readUInt32LE(o + 0x2c),
	};
};
const cstr = (off) => b.toString('latin1', off, b.indexOf(0, off));
const shstr = sec(shstrndx);
let vr = null;
for (let i = 0; i < shnum; i++) {
	const s = sec(i);
	if (cstr(shstr.off + s.name) === '.gnu.version_r')
		vr = s;
}
if (!vr) {
	console.error(`${file}: no .gnu.version_r section`);
	process.exit(1);
}
const dynstr = sec(vr.link);
let changed = 0, found = 0;
for (let n = 0, vn = vr.off; n < vr.info; n++) {
	const cnt = b.readUInt16LE(vn + 2);
	for (let k = 0, va = vn + b.readUInt32LE(vn + 8); k < cnt; k++) {
		const name = cstr(dynstr.off + b.readUInt32LE(va + 8));
		if (want.includes(name)) {
			found++;
			const flags = b.readUInt16LE(va + 4);
			if (!(flags & VER_FLG_WEAK)) {
				b.writeUInt16LE(flags | VER_FLG_WEAK, va + 4);
				changed++;
			}
		}
		va += b.readUInt32LE(va + 12);
	}
	vn += b.readUInt32LE(vn + 12);
}
if (!found) {
	console.error(`${file}: no requirement named ${want.join(', ')}`);
	process.exit(1);
}
if (changed)
	writeFileSync(file, b);
console.log(`${file}: ${found} requirement(s) weak (${changed} changed)`);
