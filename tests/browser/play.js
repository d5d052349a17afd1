// Plays an HLS URL with hls.js in headless Chromium for 14 s; fails unless playback advanced
// at least 8 s with no fatal hls.js error. `node play.js URL ll`: lowLatencyMode on, and the
// playlist requests must carry _HLS_msn (blocking playlist reload).
const { chromium } = require('playwright-core');
const path = require('path');

(async () => {
  const url = process.argv[2];
  const ll = process.argv[3] === 'll';
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
           '--no-first-run', '--autoplay-policy=no-user-gesture-required'],
  });
  try {
    const page = await browser.newPage();
    const html = 'file://' + path.join(__dirname, 'play.html') + '?src=' + encodeURIComponent(url) + '&ll=' + (ll ? '1' : '0');
    await page.goto(html);
    await page.waitForTimeout(14000);
    const r = await page.evaluate(() => ({ played: document.getElementById('v').currentTime, ...window.result }));
    const blocking = r.playlists.filter((u) => u.includes('_HLS_msn='));
    console.log('hls.js (lowLatencyMode ' + ll + '): played ' + r.played + ' s, errors ' + JSON.stringify(r.errors)
      + ', playlist requests ' + r.playlists.length + ', with _HLS_msn ' + blocking.length
      + (blocking.length ? ' (e.g. ' + blocking[blocking.length - 1] + ')' : ''));
    if (r.fatal || r.played < 8) {
      console.error('hls.js playback failed');
      process.exitCode = 1;
    }
    if (ll && blocking.length < 3) {
      console.error('hls.js in lowLatencyMode did not use blocking playlist reload');
      process.exitCode = 1;
    }
  } finally {
    await browser.close();
  }
})().catch((e) => { console.error(e); process.exit(1); });
