/**
 * Signed-out page. The markup works without script; importing the shared
 * stylesheet here is what makes Vite emit it as a file (the CSP forbids
 * inline styles).
 */
import '../styles.css';

// Put keyboard users straight on the one useful action.
document.getElementById('sign-in-again')?.focus({ preventScroll: true });
