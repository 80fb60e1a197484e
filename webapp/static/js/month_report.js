// The month report's charts (ECharts). The figures come from the JSON data block #month-charts that the
// server wrote; the same figures, with the same links, are in the table under each chart. A click on a
// bar or point opens the requests behind it. No inline script: the CSP allows only files from 'self'.
(function () {
  'use strict';
  var block = document.getElementById('month-charts');
  if (!block || typeof echarts === 'undefined') { return; }
  var charts = JSON.parse(block.textContent);
  var drawn = [];
  var narrow = window.matchMedia('(max-width: 640px)').matches;

  charts.forEach(function (c) {
    var el = document.getElementById('chart-' + c.id);
    if (!el) { return; }
    var twoAxes = c.series.some(function (s) { return s.kind && s.kind !== c.kind; });
    var valueAxis = [{ type: 'value', name: c.unit }];
    if (twoAxes) { valueAxis.push({ type: 'value', name: '件', splitLine: { show: false } }); }
    var categoryAxis = { type: 'category', data: c.categories, name: narrow ? '' : c.x_name,
      axisLabel: { hideOverlap: true } };
    var option = {
      animation: false,
      tooltip: { trigger: 'axis', confine: true },
      legend: { type: 'scroll', top: 0 },
      grid: { left: 8, right: 16, top: 40, bottom: 8, containLabel: true },
      xAxis: c.horizontal ? valueAxis : categoryAxis,
      yAxis: c.horizontal ? categoryAxis : valueAxis,
      series: c.series.map(function (s) {
        var kind = s.kind || c.kind;
        return {
          name: s.name, type: kind, stack: s.stack || undefined,
          yAxisIndex: twoAxes && kind !== c.kind ? 1 : 0,
          connectNulls: true, symbolSize: 8,
          emphasis: { focus: 'series' },
          data: s.values.map(function (v, i) {
            return { value: v, link: s.links[i] };
          }),
          cursor: 'pointer'
        };
      })
    };
    var chart = echarts.init(el, null, { renderer: 'canvas' });
    chart.setOption(option);
    chart.on('click', function (params) {
      var link = params.data && params.data.link;
      if (link) { window.location.href = link; }
    });
    drawn.push(chart);
  });
  window.addEventListener('resize', function () { drawn.forEach(function (ch) { ch.resize(); }); });
}());
