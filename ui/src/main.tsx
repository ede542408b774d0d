import { render } from 'preact';

import './styles.css';
import { App } from './components/App';
import { createController } from './controller';
import { createStore } from './store';
import { VideoRouter } from './video/router';

const store = createStore();
const video = new VideoRouter();
const ctl = createController(store, video);
const root = document.getElementById('app');
if (root) render(<App store={store} ctl={ctl} video={video} />, root);
