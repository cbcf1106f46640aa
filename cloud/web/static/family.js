/* 守望 Shouwang — family views. Registers through window.ShouwangViews (see "extra views" in app.js). */
(window.ShouwangViews = window.ShouwangViews || []).push(function (sw) {
  'use strict';
});
