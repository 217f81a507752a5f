// Start-of-checkout page script: fetches the signed button configuration and renders the Amazon Pay button.
// Plain browser JavaScript with no build step. The DOM is built with createElement/textContent only, never
// parsed from HTML strings, because the configuration carries data that must stay text.
(() => {
  const FRIENDLY_ERROR =
    'We couldn’t load Amazon Pay right now. Please try again in a moment, or refresh the page.';
  const REQUEST_TIMEOUT_MS = 15000;

  const container = document.getElementById('AmazonPayButton');
  if (!container) return;
  const status = document.getElementById('button-status');
  let loading = false;

  function setStatus(text, isError) {
    if (!status) return;
    status.textContent = text;
    if (isError) status.classList.add('button-status--error');
    else status.classList.remove('button-status--error');
  }

  function clear(element) {
    while (element.firstChild) element.removeChild(element.firstChild);
  }

  function isString(value) {
    return typeof value === 'string' && value.length > 0;
  }

  function validConfig(config) {
    const session = config?.createCheckoutSessionConfig;
    return Boolean(
      session &&
        isString(config.merchantId) &&
        isString(config.ledgerCurrency) &&
        isString(session.payloadJSON) &&
        isString(session.signature) &&
        isString(session.publicKeyId),
    );
  }

  // Only http(s) targets: a form action is a navigation, so a `javascript:` URL must never get through.
  function httpUrl(value) {
    try {
      const url = new URL(value, window.location.href);
      return url.protocol === 'https:' || url.protocol === 'http:' ? url.href : null;
    } catch {
      return null;
    }
  }

  // Local development: the binding cookie belongs to the host in the address bar, and the buyer comes back to
  // the host of PUBLIC_BASE_URL. Opened at 127.0.0.1 while the return goes to localhost (or the other way
  // round), the return would find no cookie, so move to the return URL's host first. Loopback names only:
  // anywhere else a mismatch is a configuration error that a redirect must not paper over.
  const LOOPBACK_HOSTS = ['localhost', '127.0.0.1', '[::1]'];

  function loopbackTwin(config) {
    try {
      const payload = JSON.parse(config.createCheckoutSessionConfig.payloadJSON);
      const target = new URL(payload.webCheckoutDetails.signInReturnUrl);
      const here = new URL(window.location.href);
      if (
        target.hostname === here.hostname ||
        target.protocol !== here.protocol ||
        target.port !== here.port
      ) {
        return null;
      }
      if (!LOOPBACK_HOSTS.includes(target.hostname) || !LOOPBACK_HOSTS.includes(here.hostname)) return null;
      return `${target.origin}${here.pathname}${here.search}${here.hash}`;
    } catch {
      return null;
    }
  }

  async function fetchConfig(url) {
    const controller = typeof AbortController === 'function' ? new AbortController() : null;
    const timer = controller ? setTimeout(() => controller.abort(), REQUEST_TIMEOUT_MS) : null;
    try {
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{}',
        credentials: 'same-origin',
        signal: controller ? controller.signal : undefined,
      });
      if (!response.ok) throw new Error('button config request failed');
      const config = await response.json();
      if (!validConfig(config)) throw new Error('button config is incomplete');
      return config;
    } finally {
      if (timer) clearTimeout(timer);
    }
  }

  function renderAmazonButton(config) {
    const pay = window.amazon?.Pay;
    if (!pay || typeof pay.renderButton !== 'function') throw new Error('checkout.js is not available');
    const session = config.createCheckoutSessionConfig;
    pay.renderButton('#AmazonPayButton', {
      merchantId: config.merchantId,
      ledgerCurrency: config.ledgerCurrency,
      checkoutLanguage: config.checkoutLanguage,
      productType: config.productType,
      placement: config.placement,
      sandbox: config.sandbox,
      buttonColor: 'Gold',
      createCheckoutSessionConfig: {
        payloadJSON: session.payloadJSON,
        signature: session.signature,
        publicKeyId: session.publicKeyId,
        algorithm: session.algorithm,
      },
    });
  }

  function hiddenInput(name, value) {
    const input = document.createElement('input');
    input.type = 'hidden';
    input.name = name;
    input.value = value == null ? '' : String(value);
    return input;
  }

  function renderSimulatorButton(config, action) {
    const session = config.createCheckoutSessionConfig;
    const form = document.createElement('form');
    form.method = 'post';
    form.action = action;
    form.className = 'sim-form';
    form.appendChild(hiddenInput('payloadJSON', session.payloadJSON));
    form.appendChild(hiddenInput('signature', session.signature));
    form.appendChild(hiddenInput('publicKeyId', session.publicKeyId));
    form.appendChild(hiddenInput('algorithm', session.algorithm));

    const button = document.createElement('button');
    button.type = 'submit';
    button.id = 'amazon-pay-button';
    button.className = 'amazon-pay-button';
    button.setAttribute('aria-label', 'Pay with Amazon Pay (simulated)');
    button.setAttribute('aria-describedby', 'simulator-note');
    const brand = document.createElement('span');
    brand.className = 'amazon-pay-button__brand';
    brand.textContent = 'Amazon Pay';
    button.appendChild(brand);
    form.appendChild(button);

    const note = document.createElement('p');
    note.id = 'simulator-note';
    note.className = 'simulator-note';
    note.textContent = 'Simulated Amazon Pay — no real payment';
    form.appendChild(note);

    // One sign-in per click: a double click must not post the payload twice.
    let submitted = false;
    form.addEventListener('submit', (event) => {
      if (submitted) {
        event.preventDefault();
        return;
      }
      submitted = true;
      button.setAttribute('aria-disabled', 'true');
    });

    container.appendChild(form);
  }

  function showFailure(moveFocus) {
    setStatus(FRIENDLY_ERROR, true);
    const retry = document.createElement('button');
    retry.type = 'button';
    retry.className = 'button button--secondary';
    retry.id = 'amazon-pay-retry';
    retry.textContent = 'Try again';
    retry.addEventListener('click', () => {
      load(true);
    });
    clear(container);
    container.appendChild(retry);
    if (moveFocus) retry.focus();
  }

  // `fromRetry`: the focused retry button is about to disappear, so focus goes to what replaces it.
  async function load(fromRetry) {
    if (loading) return;
    loading = true;
    container.setAttribute('aria-busy', 'true');
    setStatus('Loading Amazon Pay…', false);
    try {
      const mode = container.getAttribute('data-button-mode');
      const configUrl = httpUrl(container.getAttribute('data-button-config-url') || '');
      if (!configUrl) throw new Error('no button config URL');
      let simulatorAction = null;
      if (mode === 'simulator') {
        simulatorAction = httpUrl(container.getAttribute('data-simulator-sign-in-url') || '');
        if (!simulatorAction) throw new Error('no simulator sign-in URL');
      } else if (mode !== 'amazon') {
        throw new Error('unknown button mode');
      }
      const config = await fetchConfig(configUrl);
      const twin = loopbackTwin(config);
      if (twin) {
        window.location.replace(twin);
        return;
      }
      clear(container);
      if (mode === 'amazon') renderAmazonButton(config);
      else renderSimulatorButton(config, simulatorAction);
      setStatus('', false);
      if (fromRetry && mode === 'simulator') document.getElementById('amazon-pay-button')?.focus();
    } catch {
      // The reason stays out of the page: buyers get a calm message, never raw error text.
      showFailure(fromRetry === true);
    } finally {
      loading = false;
      container.removeAttribute('aria-busy');
    }
  }

  load(false);
})();
