{% raw %}{{/*
Names and labels shared by the templates of this chart. Named templates are global across a chart and
its subcharts, hence the chart's name as their prefix.
*/}}

{{/* Resource names: <release>-<chart>, or fullnameOverride; at most 63 characters (DNS label). */}}
{{- define "{% endraw %}{{ cookiecutter.chart }}{% raw %}.fullname" -}}
{{- .Values.fullnameOverride | default (printf "%s-%s" .Release.Name .Chart.Name) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
The image to run. A digest (release.env's IMAGE_DIGEST) pins exactly what the build stage built; without
one, the tag (TAG_ARGS), else the chart's appVersion.
*/}}
{{- define "{% endraw %}{{ cookiecutter.chart }}{% raw %}.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}
{{- end -}}

{{/* What the service and the deployment select on: stable across upgrades. */}}
{{- define "{% endraw %}{{ cookiecutter.chart }}{% raw %}.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Labels of every object; the test pod has these without the selector labels, so the service never
routes to it. */}}
{{- define "{% endraw %}{{ cookiecutter.chart }}{% raw %}.commonLabels" -}}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: cross-cloud-ci
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end -}}

{{- define "{% endraw %}{{ cookiecutter.chart }}{% raw %}.labels" -}}
{{ include "{% endraw %}{{ cookiecutter.chart }}{% raw %}.selectorLabels" . }}
{{ include "{% endraw %}{{ cookiecutter.chart }}{% raw %}.commonLabels" . }}
{{- end -}}
{% endraw %}