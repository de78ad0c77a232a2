/** The full-page fleet view, served at <admin root>/netboot/ (its shell from resources/). */
import { createApp } from 'vue';
import FleetApp from './components/FleetApp.vue';
import { createClient } from './lib/api';
import { createConnection } from './lib/connection';
import './theme.css';

// the page is <admin root>/netboot/: the admin root is two levels up (the <base> points at resources/)
const root = new URL('..', `${location.origin}${location.pathname.replace(/\/?$/, '/')}`).href;
const client = createClient(root);
document.body.style.margin = '0';
createApp(FleetApp, { client, conn: createConnection(client) }).mount('#netboot-fleet');
