/* 守望 Shouwang — console views. Registers through window.ShouwangViews (see "extra views" in app.js). */
(window.ShouwangViews = window.ShouwangViews || []).push(function (sw) {
  'use strict';
});
