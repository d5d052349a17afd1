// Plays an HLS URL with hls.js in headless Chromium for 14 s; fails unless playback advanced
// at least 8 s with no fatal hls.js error.
const { chromium } = require('playwright-core');
const path = require('path');

(async () => {
  const url = process.argv[2];
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
           '--no-first-run', '--autoplay-policy=no-user-gesture-required'],
  });
  try {
    const page = await browser.newPage();
    const html = 'file://' + path.join(__dirname, 'play.html') + '?src=' + encodeURIComponent(url);
    await page.goto(html);
    await page.waitForTimeout(14000);
    const r = await page.evaluate(() => ({ played: document.getElementById('v').currentTime, ...window.result }));
    console.log('hls.js: ' + JSON.stringify(r));
    if (r.fatal || r.played < 8) {
      console.error('hls.js playback failed');
      process.exitCode = 1;
    }
  } finally {
    await browser.close();
  }
})().catch((e) => { console.error(e); process.exit(1); });
