// Headless Chromium for the browser tests and the benchmark, driven by
// playwright-core (npm, installed into build/npm by run.sh) with Debian's
// /usr/bin/chromium. Each launch gets a fresh profile; fake media devices
// and one getUserMedia call make Chromium expose loopback host candidates
// (without media permission it hides them behind mDNS names or drops
// them).
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const CHROMIUM_ARGS = [
	'--headless',
	'--no-sandbox',
	'--disable-gpu',
	'--no-first-run',
	'--disable-background-networking',
	'--disable-component-update',
	'--disable-sync',
	'--allow-loopback-in-peer-connection',
	'--disable-features=WebRtcHideLocalIpsWithMdns',
	'--use-fake-ui-for-media-stream',
	'--use-fake-device-for-media-stream',
];

// playwright-core from NPM_DIR (build/npm).
export function playwright(npmDir) {
	const req = createRequire(join(npmDir, 'package.json'));
	return req('playwright-core');
}

// Launch Chromium with a fresh user-data-dir; returns { ctx, close }.
// Console lines of every page go to log (prefixed with tag).
// plain: only the headless basics, WebRTC as a user's browser has it
// (no loopback candidates, mDNS host names, no media permission).
export async function launch(npmDir, { log = () => {}, tag = 'page',
	plain = false } = {}) {
	const { chromium } = playwright(npmDir);
	const dir = mkdtempSync(join(tmpdir(), 'actr-chromium-'));
	const ctx = await chromium.launchPersistentContext(dir, {
		executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
		headless: true,
		args: plain ? CHROMIUM_ARGS.slice(0, 7) : CHROMIUM_ARGS,
		ignoreDefaultArgs: ['--enable-automation'],
		timeout: 30000,
	});
	ctx.on('page', (p) => hookPage(p, log, tag));
	for (const p of ctx.pages())
		hookPage(p, log, tag);
	return {
		ctx,
		async close() {
			await ctx.close().catch(() => {});
			rmSync(dir, { recursive: true, force: true });
		},
	};
}

function hookPage(p, log, tag) {
	p.on('console', (m) => log(`[${tag} ${m.type()}] ${m.text()}`));
	p.on('pageerror', (e) => log(`[${tag} error] ${e.message}`));
}

// Open url in a new page of ctx and grant fake media once (getUserMedia):
// from then on Chromium gathers 127.0.0.1 host candidates.
export async function openPage(ctx, url) {
	const page = await ctx.newPage();
	page.setDefaultTimeout(60000);
	await page.goto(url, { waitUntil: 'load' });
	const ok = await page.evaluate(async () => {
		const s = await navigator.mediaDevices.getUserMedia({ audio: true });
		for (const t of s.getTracks())
			t.stop();
		return true;
	});
	if (!ok)
		throw new Error('getUserMedia failed');
	return page;
}

// The host candidates a bare RTCPeerConnection gathers in page.
export async function hostCandidates(page) {
	return page.evaluate(async () => {
		const pc = new RTCPeerConnection({ iceServers: [] });
		const got = [];
		pc.createDataChannel('probe');
		const done = new Promise((res) => {
			pc.onicecandidate = (e) => {
				if (!e.candidate)
					return res();
				got.push(e.candidate.candidate);
			};
			setTimeout(res, 5000);
		});
		await pc.setLocalDescription(await pc.createOffer());
		await done;
		pc.close();
		return got;
	});
}

export function percentile(sorted, p) {
	if (!sorted.length)
		return NaN;
	const i = Math.min(sorted.length - 1, Math.floor(sorted.length * p));
	return sorted[i];
}
