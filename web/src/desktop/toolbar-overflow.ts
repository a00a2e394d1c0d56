/**
 * A toolbar that never scrolls sideways: when its controls do not fit, the least needed ones
 * (highest `data-overflow`) move, one at a time, into a "More" menu, and come back when there is
 * room again. Elements are moved, not copied, so their listeners and state go with them.
 */
export function bindToolbarOverflow(toolbar: HTMLElement, more: HTMLButtonElement, menu: HTMLElement): void {
  const items = [...toolbar.querySelectorAll<HTMLElement>('[data-overflow]')];
  const place = new Map(items.map((el, i) => [el, i]));
  const homes = new Map(items.map((el) => {
    const mark = document.createComment('');
    el.before(mark);
    return [el, mark] as const;
  }));
  const leastNeededFirst = [...items].sort((a, b) => Number(b.dataset.overflow) - Number(a.dataset.overflow));

  const setOpen = (open: boolean) => {
    menu.classList.toggle('is-open', open);
    more.setAttribute('aria-expanded', String(open));
  };
  const overflowing = () => toolbar.scrollWidth > toolbar.clientWidth + 1;

  // a control shown or hidden, or a label that changed length ("Exit full screen", the remote
  // size appearing): anything in the toolbar or the menu. Our own moves are not news.
  const watch = { subtree: true, childList: true, characterData: true, attributes: true, attributeFilter: ['hidden'] };
  const changes = new MutationObserver(() => refit());
  const observe = () => {
    changes.observe(toolbar, watch);
    changes.observe(menu, watch);
  };

  const fit = () => {
    changes.disconnect();
    const wasOpen = menu.classList.contains('is-open');
    const before = [...menu.children];
    for (const el of items) homes.get(el)!.after(el);
    more.classList.remove('is-needed');
    for (const el of leastNeededFirst) {
      if (!overflowing()) break;
      if (el.hidden) continue;
      more.classList.add('is-needed');
      // keep the toolbar's order inside the menu
      const after = [...menu.children].find((c) => (place.get(c as HTMLElement) ?? -1) > place.get(el)!);
      menu.insertBefore(el, after ?? null);
    }
    toolbar.dataset.overflowed = String(menu.children.length);
    // an open menu stays open unless what is in it changed (say, the remote size label updated)
    const same = before.length === menu.children.length && before.every((el, i) => menu.children[i] === el);
    setOpen(wasOpen && same && menu.children.length > 0);
    observe();
  };

  let queued = false;
  const refit = () => {
    if (queued) return;
    queued = true;
    requestAnimationFrame(() => {
      queued = false;
      fit();
    });
  };
  new ResizeObserver(refit).observe(toolbar);
  fit();

  more.addEventListener('click', () => setOpen(!menu.classList.contains('is-open')));
  // a choice made in the menu closes it; so do Escape and a click elsewhere
  menu.addEventListener('click', (e) => {
    if ((e.target as HTMLElement).closest('button')) setOpen(false);
  });
  menu.addEventListener('change', () => setOpen(false));
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && menu.classList.contains('is-open')) setOpen(false);
  }, true);
  document.addEventListener('pointerdown', (e) => {
    const t = e.target as Node;
    if (menu.classList.contains('is-open') && !menu.contains(t) && !more.contains(t)) setOpen(false);
  });
}
