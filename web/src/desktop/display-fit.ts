/**
 * Scales the remote display into its container ("Fit") or shows it at one
 * remote pixel per device pixel ("1:1"), and keeps #remote-size current.
 */
import type Guacamole from 'guacamole-common-js';
import { fitScale } from '../protocol/session-state.js';

export type ScaleMode = 'fit' | 'actual';

export class DisplayFit {
  mode: ScaleMode = 'fit';

  constructor(
    private readonly display: Guacamole.Display,
    private readonly container: HTMLElement,
    private readonly sizeLabel: HTMLElement,
  ) {}

  setMode(mode: ScaleMode): void {
    this.mode = mode;
    this.container.dataset.scaleMode = mode;
    this.apply();
  }

  apply(): void {
    const width = this.display.getWidth();
    const height = this.display.getHeight();
    if (width <= 0 || height <= 0) return;
    // The remote screen is rendered in device pixels, so "actual size" on a
    // HiDPI screen is 1/devicePixelRatio in CSS terms.
    const scale =
      this.mode === 'fit'
        ? fitScale(this.container.clientWidth, this.container.clientHeight, width, height)
        : 1 / (window.devicePixelRatio || 1);
    if (Math.abs(this.display.getScale() - scale) > 1e-6) this.display.scale(scale);
  }

  /** Called from display.onresize with the new remote size. */
  remoteResized(width: number, height: number): void {
    this.sizeLabel.textContent = `${width}×${height}`;
    this.sizeLabel.dataset.width = String(width);
    this.sizeLabel.dataset.height = String(height);
    this.apply();
  }
}
