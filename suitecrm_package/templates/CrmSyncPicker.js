/*
 * Edit views of the package's modules: below a names field (one name per line) a button lists what the CRM
 * knows of Moodle (the courses' short names, or the groups of the chosen course) as checkboxes; ticking one
 * adds its line to the field, unticking removes it. The field stays editable: the connector checks every
 * name against Moodle either way. PICKERS is generated from crm_schema.yaml (module => field => picker).
 */
(function () {
    var PICKERS = __PICKERS__;
    var TEXT = {
        courses: 'Pick from the Moodle courses',
        groups: "Pick from the course's groups",
        groupsOfCourses: "Pick from these courses' groups",
        loading: 'Loading…',
        none: 'The CRM knows no such Moodle records yet.',
        chooseCourse: 'Choose the course first.',
        failed: 'Could not list them: '
    };

    function lines(textarea) {
        return textarea.value.split(/\r?\n/).map(function (l) { return l.trim(); }).filter(function (l) { return l; });
    }

    function setLine(textarea, name, on) {
        var now = lines(textarea).filter(function (l) { return l !== name; });
        if (on) { now.push(name); }
        textarea.value = now.join('\n');
        textarea.dispatchEvent(new Event('change', {bubbles: true}));
    }

    function query(form, picker) {
        if (picker.choices === 'courses') { return 'choices=courses'; }
        if (picker.course_id_field) {
            var id = form.elements[picker.course_id_field] ? form.elements[picker.course_id_field].value : '';
            return id ? 'choices=groups&course_id=' + encodeURIComponent(id) : null;
        }
        var courses = form.elements[picker.courses_field] ? form.elements[picker.courses_field].value : '';
        return lines({value: courses}).length ? 'choices=groups&courses=' + encodeURIComponent(courses) : null;
    }

    function render(list, textarea, choices) {
        list.innerHTML = '';
        if (!choices.length) { list.textContent = TEXT.none; return; }
        var chosen = lines(textarea);
        choices.forEach(function (choice, i) {
            var id = textarea.id + '_crmsync_pick_' + i;
            var row = document.createElement('div');
            var box = document.createElement('input');
            box.type = 'checkbox';
            box.id = id;
            box.value = choice.name;
            box.checked = chosen.indexOf(choice.name) !== -1;
            box.addEventListener('change', function () { setLine(textarea, choice.name, box.checked); });
            var label = document.createElement('label');
            label.htmlFor = id;
            label.style.fontWeight = 'normal';
            label.style.marginLeft = '0.4em';
            label.textContent = choice.name + (choice.title ? ' — ' + choice.title : '')
                + (choice.courses ? ' (' + choice.courses.join(', ') + ')' : '');
            row.appendChild(box);
            row.appendChild(label);
            list.appendChild(row);
        });
    }

    function attach(form, field, picker) {
        var textarea = form.elements[field];
        if (!textarea || textarea.dataset.crmsyncPicker) { return; }
        textarea.dataset.crmsyncPicker = picker.choices;
        var button = document.createElement('button');
        button.type = 'button';
        button.className = 'button';
        button.id = field + '_crmsync_pick';
        var title = picker.courses_field ? TEXT.groupsOfCourses : TEXT[picker.choices];
        button.textContent = title;
        var list = document.createElement('div');
        list.id = field + '_crmsync_choices';
        list.setAttribute('role', 'group');
        list.setAttribute('aria-live', 'polite');
        list.setAttribute('aria-label', title);
        list.style.margin = '0.4em 0';
        button.setAttribute('aria-controls', list.id);
        button.addEventListener('click', function () {
            var q = query(form, picker);
            if (q === null) { list.textContent = TEXT.chooseCourse; return; }
            list.textContent = TEXT.loading;
            fetch('index.php?entryPoint=crmsyncPicker&' + q, {credentials: 'same-origin'})
                .then(function (r) {
                    return r.json().then(function (body) {
                        if (!r.ok) { throw new Error(body.error || r.status); }
                        return body.choices;
                    });
                })
                .then(function (choices) { render(list, textarea, choices); })
                .catch(function (e) { list.textContent = TEXT.failed + e.message; });
        });
        textarea.parentNode.insertBefore(list, textarea.nextSibling);
        textarea.parentNode.insertBefore(button, list);
    }

    // The edit view's form (EditView) and a subpanel's quick-create form (form_SubpanelQuickCreate_<module>).
    function start() {
        Array.prototype.forEach.call(document.forms, function (form) {
            var fields = PICKERS[form.elements.module ? form.elements.module.value : ''] || {};
            Object.keys(fields).forEach(function (field) { attach(form, field, fields[field]); });
        });
    }

    if (document.readyState === 'loading') { document.addEventListener('DOMContentLoaded', start); } else { start(); }
})();
