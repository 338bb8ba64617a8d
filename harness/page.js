(function () {
  const data = JSON.parse(document.getElementById('data').textContent);
  const el = (tag, props, ...kids) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (k === 'class') e.className = v; else if (k === 'text') e.textContent = v; else e.setAttribute(k, v);
    }
    for (const k of kids) if (k !== null && k !== undefined) e.append(k);
    return e;
  };
  const ARROW = {higher: '\u2191', lower: '\u2193', zero: '\u21920', retain: '\u2248R'};
  function fmt(v, integer) {
    if (v === null || v === undefined || Number.isNaN(v)) return '';
    if (typeof v !== 'number') return String(v);
    if (integer && Number.isInteger(v)) return v.toLocaleString('en-US');
    const a = Math.abs(v);
    if (v === 0) return '0';
    if (a >= 1e4 || a < 1e-3) return v.toExponential(1).replace('e+', 'e');
    return v.toPrecision(3);
  }
  function score(col, row) {  // larger is better; null when not comparable
    const v = row.values[col.key];
    if (typeof v !== 'number') return null;
    switch (col.direction) {
      case 'higher': return v;
      case 'lower': return -v;
      case 'zero': return -Math.abs(v);
      case 'retain': { const r = row.refs[col.reference]; return typeof r === 'number' ? -Math.abs(v - r) : null; }
      default: return null;
    }
  }
  function cellTitle(col, row) {
    const parts = [col.key + (col.description ? ': ' + col.description : '')];
    const ci = row.ci[col.key];
    if (ci) parts.push((col.key === 'ks_stat' ? '95% distribution-free (DKW) interval: ['
                        : '95% bootstrap interval over items: [') + fmt(ci[0]) + ', ' + fmt(ci[1]) + ']');
    const s = row.std[col.key];
    if (typeof s === 'number') parts.push('std over ' + row.n_seeds + ' seeds: ' + fmt(s));
    if (col.direction === 'retain' && typeof row.refs[col.reference] === 'number')
      parts.push('retain model: ' + fmt(row.refs[col.reference]));
    return parts.join('\n');
  }
  function renderTable(task, holder) {
    const cols = task.columns;
    const table = el('table', {'data-task': task.name});
    const head = el('tr');
    head.append(el('th', {'data-key': 'label', title: 'method (+adapter); reference models are pinned'}, 'method'));
    cols.forEach(c => {
      const th = el('th', {'data-key': c.key, title: c.key + (c.description ? ': ' + c.description : '')}, c.key);
      if (c.direction) th.append(el('span', {class: 'dir', text: ARROW[c.direction] || ''}));
      if (!c.headline) th.classList.add('extra');
      head.append(th);
    });
    head.append(el('th', {'data-key': 'status', class: 'extra-status'}, 'status'));
    table.append(el('thead', {}, head));
    const body = el('tbody');
    table.append(body);
    const best = {};
    cols.forEach(c => {  // marked only where some method does worse: a column of ties marks nothing
      // competing rows only: those that forgot beyond noise and kept utility (harness/eligibility.py)
      const scores = task.rows.filter(r => !r.reference && r.n_seeds > 0 && r.eligible === true)
        .map(r => score(c, r)).filter(s => s !== null);
      if (scores.length > 1 && Math.max(...scores) > Math.min(...scores)) best[c.key] = Math.max(...scores);
    });
    let sortKey = null, sortDir = -1;
    function draw() {
      body.textContent = '';
      const refs = task.rows.filter(r => r.reference);
      let others = task.rows.filter(r => !r.reference);
      if (sortKey) {
        // a column with a declared direction sorts by how good a value is (privleak by its distance to 0,
        // an MIA AUC by its distance to the retain model's), best first on the first click
        const col = cols.find(c => c.key === sortKey);
        const val = r => sortKey === 'label' || sortKey === 'status' ? r[sortKey]
          : (col && col.direction ? score(col, r) : r.values[sortKey]);
        others = others.slice().sort((a, b) => {
          const x = val(a), y = val(b);
          if (x === null || x === undefined) return 1;
          if (y === null || y === undefined) return -1;
          return (typeof x === 'number' ? x - y : String(x).localeCompare(String(y))) * sortDir;
        });
      }
      for (const r of refs.concat(others)) {
        const tr = el('tr', {class: (r.reference ? 'ref ' : '') + (r.n_seeds === 0 ? 'diverged' : '')});
        const link = el('button', {class: 'rowlink', type: 'button', text: r.label});
        link.addEventListener('click', () => openDetail(task, r));
        const name = el('td', {}, link);
        if (r.form && r.form !== 'approximate' && r.form !== 'reference')  // another form of unlearning
          name.append(el('span', {class: 'badge form', text: r.form, title: r.note || r.form}));
        if (r.note) name.append(el('div', {class: 'note', text: r.note}));
        if (r.status !== 'complete')  // diverged (or partly): visible without scrolling
          name.append(el('span', {class: 'badge', text: r.status, title: r.error ? 'error: ' + r.error : r.status}));
        if (!r.reference && r.eligible === false)  // shown, but not marked best (the rule in the legend)
          name.append(el('span', {class: 'badge muted', text: r.eligible_tag, title: r.eligible_why || ''}));
        if (r.warnings) name.append(el('span', {class: 'badge warn', text: 'warning', title: r.warnings}));
        if (r.flags) name.append(el('span', {class: 'badge', text: 'bad values', title: r.flags}));
        tr.append(name);
        cols.forEach(c => {
          const td = el('td', {title: cellTitle(c, r)});
          td.append(fmt(r.values[c.key], c.integer));
          const s = r.std[c.key];
          if (typeof s === 'number') td.append(el('span', {class: 'std', text: '\u00b1' + fmt(s)}));
          if (!c.headline) td.classList.add('extra');
          if (!r.reference && r.eligible === true && best[c.key] !== undefined && score(c, r) === best[c.key])
            td.classList.add('best');
          // a replicated study: methods whose 95% rank interval overlaps the leader's are within noise of
          // it and share its mark (docs/statistics.md)
          else if (!r.reference && (task.tied[c.key] || []).includes(r.label)) {
            td.classList.add('tied');
            td.title += ' | within noise of the leader: its 95% rank interval overlaps the leader\'s';
          }
          tr.append(td);
        });
        const st = el('td', {class: 'status', text: r.n_diverged && r.n_seeds ? r.status : r.status,
                            title: r.error ? 'error: ' + r.error : r.status});
        tr.append(st);
        body.append(tr);
      }
      table.querySelectorAll('th').forEach(th => {
        th.classList.remove('sorted-asc', 'sorted-desc');
        if (th.dataset.key === sortKey) th.classList.add(sortDir > 0 ? 'sorted-asc' : 'sorted-desc');
      });
    }
    head.querySelectorAll('th').forEach(th => th.addEventListener('click', () => {
      const k = th.dataset.key;
      sortDir = sortKey === k ? -sortDir : (k === 'label' || k === 'status' ? 1 : -1);
      sortKey = k;
      draw();
    }));
    draw();
    const extra = cols.filter(c => !c.headline).length;
    const toggle = el('button', {class: 'toggle', type: 'button', text: 'show all ' + (cols.length + 2) + ' columns'});
    toggle.addEventListener('click', () => {
      table.classList.toggle('all');
      toggle.textContent = table.classList.contains('all') ? 'headline columns only' : 'show all ' + (cols.length + 2) + ' columns';
    });
    if (extra) holder.append(toggle);
    holder.append(el('div', {class: 'wrap'}, table));
  }
  function pre(obj) { return el('pre', {text: JSON.stringify(obj, null, 2)}); }
  function openDetail(task, r) {
    const dlg = document.getElementById('detail');
    document.getElementById('detail-title').textContent = r.label + ' \u2014 ' + task.name;
    const body = document.getElementById('detail-body');
    body.textContent = '';
    const settings = el('table');
    const add = (k, v) => settings.append(el('tr', {}, el('td', {text: k}), el('td', {text: v})));
    add('status', r.status + (r.error ? ' (' + r.error + ')' : ''));
    add('seeds', r.seeds + ' (' + r.n_seeds + ' complete' + (r.n_diverged ? ', ' + r.n_diverged + ' diverged' : '') + ')');
    add('learning rate', fmt(r.lr)); add('epochs', r.epochs === null ? '' : String(r.epochs));
    add('adapter', r.adapter); add('method arguments', JSON.stringify(r.method_args));
    if (r.form) add('form', r.form + (r.note ? ' (' + r.note + ')' : ''));
    body.append(settings);
    for (const id of r.run_ids) {
      const d = data.details[id] || {};
      body.append(el('h3', {text: 'run ' + id}));
      if (d.warnings && d.warnings.length) body.append(el('p', {class: 'note', text: 'warnings: ' + d.warnings.join('; ')}));
      if (d.attacks) {  // recovery under each attack, what was removed, and why a recovery is empty
        body.append(el('h4', {text: 'attacks' + (d.attacks.robustness_note ? ' (robustness empty: '
                                                 + d.attacks.robustness_note + ')' : '')}));
        const t = el('table');
        t.append(el('tr', {}, ...['attack', 'label', 'recovery', 'removed', 'SE', 'items', 'note']
          .map(h => el('th', {text: h}))));
        for (const [folder, a] of Object.entries(d.attacks.attacks || {}))
          for (const [label, v] of Object.entries(a.labels || {}))
            t.append(el('tr', {}, ...[folder, label, fmt(v.recovery), fmt(v.removed), fmt(v.removed_se),
                                     v.removed_n === null || v.removed_n === undefined ? '' : String(v.removed_n),
                                     v.recovery_note || ''].map(x => el('td', {text: x}))));
        body.append(t);
      }
      body.append(el('h4', {text: 'compute record'}), pre(d.compute));
      body.append(el('h4', {text: 'config'}), pre(d.config));
      body.append(el('h4', {text: 'provenance'}), pre(d.provenance));
    }
    dlg.showModal();
  }
  const meta = document.getElementById('meta');
  meta.textContent = 'Built ' + data.built + ' from ' + data.n_runs + ' run folders in ' + data.runs_folder + '.';
  if (data.broken.length) {
    const b = document.getElementById('broken');
    b.append(el('p', {text: data.broken.length + ' run folder(s) could not be read and are not shown:'}));
    const ul = el('ul');
    data.broken.forEach(([f, why]) => ul.append(el('li', {text: f + ': ' + why})));
    b.append(ul);
  }
  const main = document.getElementById('main');
  const nav = document.getElementById('nav');
  if (!data.tasks.length && !data.selected.length) main.append(el('p', {text: 'No complete runs yet.'}));
  const families = data.family_order;
  families.forEach(fam => {
    const sec = el('section', {id: 'family-' + fam});
    sec.append(el('h2', {text: data.families[fam] || fam}));
    data.tasks.forEach((t, i) => {
      if (t.family !== fam) return;
      const id = 'task-' + i;
      const a = el('a', {href: '#' + id, text: t.name});
      nav.append(a);
      const div = el('div', {id: id});
      div.append(el('h3', {text: t.name}));
      const tpl = document.getElementById('plots-' + i);
      if (tpl) div.append(el('div', {class: 'plots'}, tpl.content.cloneNode(true)));
      renderTable(t, div);
      sec.append(div);
    });
    main.append(sec);
  });
  if (data.selected.length) {  // each swept method at the setting its sweep's rule picked
    const sec = el('section', {id: 'selected'});
    sec.append(el('h2', {text: 'Selected by sweep: tuned on validation data, reported on the test task'}));
    nav.append(el('a', {href: '#selected', text: 'selected (sweeps)'}));
    const groups = {};
    data.selected.forEach(r => {
      const key = r.sweep + ' — ' + r.task;
      (groups[key] = groups[key] || []).push(r);
    });
    for (const [name, rows] of Object.entries(groups)) {
      sec.append(el('h3', {text: 'sweep ' + name}));
      sec.append(el('p', {class: 'note',
                          text: 'rule: ' + rows[0].rule + '; validation data: ' + (rows[0].validation || '?')}));
      const table = el('table', {class: 'selected', 'data-sweep': rows[0].sweep});
      const metrics = rows[0].metrics.map(m => m[0]);
      const head = el('tr');
      ['method', 'setting', 'trials', 'meet the rule'].concat(rows[0].val.map(v => 'validation ' + v[0]), metrics,
        ['tuning FLOPs', 'tuning s']).forEach(h => head.append(el('th', {text: h})));
      table.append(el('thead', {}, head));
      const body = el('tbody');
      rows.forEach(r => {
        const tr = el('tr', r.rule_choice ? {} : {class: 'off-rule'});
        const name = el('td', {text: r.method});
        if (!r.feasible) name.append(el('span', {class: 'badge', text: 'infeasible', title: r.selection}));
        if (!r.rule_choice)  // a trial lost or rerun since: these numbers are not the rule's pick
          name.append(el('span', {class: 'badge off-rule', text: "not the rule's choice", title: r.selection}));
        tr.append(name, el('td', {text: r.setting, title: r.selection}), el('td', {text: String(r.n_trials)}),
                  el('td', {text: String(r.n_feasible)}));
        r.val.forEach(v => tr.append(el('td', {text: fmt(v[1])})));
        r.metrics.forEach(m => tr.append(el('td', {text: fmt(m[1]),
                                                   title: m[0] + (ARROW[m[2]] ? ' ' + ARROW[m[2]] : '')})));
        tr.append(el('td', {text: fmt(r.tuning_flops)}), el('td', {text: fmt(r.tuning_s)}));
        body.append(tr);
      });
      table.append(body);
      sec.append(el('div', {class: 'wrap'}, table));
    }
    main.append(sec);
  }
  if (data.meta_eval && data.meta_eval.length) {  // harness meta-eval: <results>/meta_eval.csv
    const sec = el('section', {id: 'trust'});
    sec.append(el('h2', {text: 'Which metrics can you trust?'}));
    nav.append(el('a', {href: '#trust', text: 'which metrics to trust'}));
    sec.append(el('p', {class: 'note', text: 'Faithfulness: how well a metric tells models that hold the forget ' +
      'knowledge from models that never saw it (AUC over two pools of models; 0.5 = cannot tell; the placebo row ' +
      'is random numbers). Robustness: how little 10 relearning steps and 4-bit quantisation move it on the ' +
      'unlearned runs, against the retain model under the same attack. Overall: their harmonic mean. The ' +
      '*_recovery rows score the attacks\' recovery numbers on the pool models (attacked like the unlearned ' +
      'runs). Method: docs/metrics.md.'}));
    const tpl = document.getElementById('plots-trust');
    if (tpl) sec.append(el('div', {class: 'plots'}, tpl.content.cloneNode(true)));
    const cols = ['task', 'metric', 'faithfulness', 'faith_low', 'faith_high', 'robust_relearn', 'robust_quant',
                  'robustness', 'overall', 'n_pos', 'n_neg', 'n_unlearned'];
    const table = el('table', {class: 'trust'});
    const head = el('tr');
    cols.forEach(c => head.append(el('th', {text: c})));
    table.append(el('thead', {}, head));
    const body = el('tbody');
    data.meta_eval.forEach(r => {
      const tr = el('tr', r.metric === 'placebo' ? {class: 'placebo'} : {});
      cols.forEach(c => tr.append(el('td', {text: typeof r[c] === 'number' && !c.startsWith('n_') ? fmt(r[c])
                                                  : (r[c] === null || r[c] === undefined ? '–' : String(r[c]))})));
      body.append(tr);
    });
    table.append(body);
    sec.append(el('div', {class: 'wrap'}, table));
    main.append(sec);
  }
})();
