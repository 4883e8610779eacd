// Serial numbers from a barcode with the browser's BarcodeDetector and the camera, where the
// phone has both; otherwise the serial is typed.
export function canScan() {
  return "BarcodeDetector" in window && !!navigator.mediaDevices?.getUserMedia;
}

export async function scanInto(video, input, onDone) {
  const detector = new window.BarcodeDetector();
  const stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
  video.srcObject = stream;
  video.hidden = false;
  await video.play();
  let stopped = false;
  const stop = () => {
    stopped = true;
    stream.getTracks().forEach((t) => t.stop());
    video.hidden = true;
    onDone();
  };
  const look = async () => {
    if (stopped) return;
    try {
      const codes = await detector.detect(video);
      if (codes.length) {
        input.value = codes[0].rawValue;
        input.dispatchEvent(new Event("input"));
        stop();
        return;
      }
    } catch {
      // a frame the detector could not read: try the next one
    }
    setTimeout(look, 250);
  };
  look();
  return stop;
}
