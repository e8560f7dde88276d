"""The interactive page of a 2-D :class:`LossLandscape`: a contour map that reads out the
loss and accuracy under the pointer, and a 3-D surface turned by dragging (canvas, no
library, no network). A 1-D landscape's page shows its static figure."""
from __future__ import annotations

import html
import json

import numpy as np

from ..result import jsonable, standalone_page

# viridis at 9 stops: the same map as the static figures
_VIRIDIS = ["#440154", "#472d7b", "#3b528b", "#2c728e", "#21918c", "#28ae80", "#5ec962", "#addc30", "#fde725"]

_JS = r"""
(function(){
const root=document.currentScript.previousElementSibling;
const D=JSON.parse(root.querySelector('script[type="application/json"]').textContent);
const nx=D.x.length, ny=D.y.length, Z=D.z, L=D.loss, A=D.accuracy;
let zmin=Infinity,zmax=-Infinity;for(const r of Z)for(const v of r){if(v!==null){zmin=Math.min(zmin,v);zmax=Math.max(zmax,v);}}
const stops=D.cmap.map(h=>[1,3,5].map(i=>parseInt(h.substr(i,2),16)));
function color(v,shade){if(v===null)return'#00d000';let t=(v-zmin)/((zmax-zmin)||1);t=Math.min(1,Math.max(0,t))*(stops.length-1);
 const i=Math.min(stops.length-2,Math.floor(t)),f=t-i,a=stops[i],b=stops[i+1];const s=shade||1;
 return 'rgb('+[0,1,2].map(k=>Math.round((a[k]+(b[k]-a[k])*f)*s)).join(',')+')';}
const fmt=v=>v===null?'n/a':(Math.abs(v)>=1e4||Math.abs(v)<1e-3&&v!==0?v.toExponential(3):v.toPrecision(4));
// contour map (cells), readout under the pointer
const cv=root.querySelector('canvas.ls-map'),cx=cv.getContext('2d'),W=cv.width,H=cv.height,pad=44;
const sx=i=>pad+(W-pad-10)*i/(nx-1), sy=j=>H-pad-(H-pad-10)*j/(ny-1);
const vx=v=>pad+(W-pad-10)*(v-D.x[0])/(D.x[nx-1]-D.x[0]), vy=v=>H-pad-(H-pad-10)*(v-D.y[0])/(D.y[ny-1]-D.y[0]);
function drawMap(){cx.clearRect(0,0,W,H);const cw=(W-pad-10)/(nx-1),ch=(H-pad-10)/(ny-1);
 for(let j=0;j<ny;j++)for(let i=0;i<nx;i++){cx.fillStyle=color(Z[j][i]);cx.fillRect(sx(i)-cw/2,sy(j)-ch/2,cw+1,ch+1);}
 cx.fillStyle='#fff';cx.fillRect(0,0,pad-1,H);cx.fillRect(0,H-pad+1,W,pad);
 cx.fillStyle='#1f2328';cx.font='11px system-ui';cx.textAlign='center';
 for(const i of [0,(nx-1)>>1,nx-1])cx.fillText(D.x[i].toPrecision(3),sx(i),H-pad+14);
 cx.fillText(D.labels[0],W/2,H-8);cx.save();cx.translate(12,H/2);cx.rotate(-Math.PI/2);cx.fillText(D.labels[1],0,0);cx.restore();
 cx.textAlign='right';for(const j of [0,(ny-1)>>1,ny-1])cx.fillText(D.y[j].toPrecision(3),pad-4,sy(j)+4);
 const m=D.min;cx.font='18px system-ui';cx.textAlign='center';cx.fillStyle='#ffd400';cx.strokeStyle='#000';
 cx.strokeText('\u2605',vx(m[0]),vy(m[1])+6);cx.fillText('\u2605',vx(m[0]),vy(m[1])+6);
 if(D.x[0]<=0&&D.x[nx-1]>=0&&D.y[0]<=0&&D.y[ny-1]>=0&&D.origin){cx.fillStyle='#000';cx.strokeStyle='#fff';cx.strokeText('+',vx(0),vy(0)+6);cx.fillText('+',vx(0),vy(0)+6);}
 if(D.path){cx.strokeStyle='#e8503a';cx.lineWidth=2;cx.beginPath();D.path.forEach((p,k)=>{const X=vx(p[0]),Y=vy(p[1]);k?cx.lineTo(X,Y):cx.moveTo(X,Y);});cx.stroke();}}
const out=root.querySelector('.ls-readout');
cv.addEventListener('mousemove',e=>{const r=cv.getBoundingClientRect(),X=(e.clientX-r.left)*W/r.width,Y=(e.clientY-r.top)*H/r.height;
 const i=Math.round((X-pad)/(W-pad-10)*(nx-1)),j=Math.round((H-pad-Y)/(H-pad-10)*(ny-1));
 if(i<0||j<0||i>=nx||j>=ny){out.textContent='';return;}
 out.textContent=D.labels[0].split(' (')[0]+' = '+D.x[i].toPrecision(3)+', '+D.labels[1].split(' (')[0]+' = '+D.y[j].toPrecision(3)+
  ': loss '+fmt(L[j][i])+(A?', accuracy '+(A[j][i]===null?'n/a':(100*A[j][i]).toFixed(1)+'%'):'');});
// 3-D surface: painter's algorithm over the grid's quads, drag to turn
const sv=root.querySelector('canvas.ls-surface'),sc=sv.getContext('2d'),SW=sv.width,SH=sv.height;let az=-0.7,el=0.75;
function proj(i,j,v){const x=i/(nx-1)-0.5,y=j/(ny-1)-0.5,z=v===null?0:((v-zmin)/((zmax-zmin)||1)-0.5)*0.8;
 const ca=Math.cos(az),sa=Math.sin(az),x1=x*ca-y*sa,y1=x*sa+y*ca,ce=Math.cos(el),se=Math.sin(el);
 return [SW/2+x1*SW*0.66, SH/2-(y1*se+z*ce)*SH*0.78, y1*ce-z*se];}
function drawSurface(){sc.clearRect(0,0,SW,SH);const quads=[];
 for(let j=0;j<ny-1;j++)for(let i=0;i<nx-1;i++){const vs=[[i,j],[i+1,j],[i+1,j+1],[i,j+1]].map(([a,b])=>proj(a,b,Z[b][a]));
  const vals=[Z[j][i],Z[j][i+1],Z[j+1][i+1],Z[j+1][i]].filter(v=>v!==null);const avg=vals.length?vals.reduce((s,v)=>s+v,0)/vals.length:null;
  quads.push([vs.reduce((s,p)=>s+p[2],0)/4,vs,avg]);}
 quads.sort((a,b)=>b[0]-a[0]);
 for(const [,vs,avg] of quads){sc.beginPath();vs.forEach((p,k)=>k?sc.lineTo(p[0],p[1]):sc.moveTo(p[0],p[1]));sc.closePath();
  sc.fillStyle=color(avg,0.92);sc.fill();sc.strokeStyle='rgba(0,0,0,0.12)';sc.stroke();}
 sc.fillStyle='#1f2328';sc.font='11px system-ui';sc.fillText('drag to turn; height and colour: '+D.zlabel,8,SH-8);}
let drag=null;sv.addEventListener('mousedown',e=>drag=[e.clientX,e.clientY,az,el]);
window.addEventListener('mouseup',()=>drag=null);
window.addEventListener('mousemove',e=>{if(!drag)return;az=drag[2]+(e.clientX-drag[0])*0.01;el=Math.max(-0.2,Math.min(1.5,drag[3]+(e.clientY-drag[1])*0.01));drawSurface();});
drawMap();drawSurface();
})();
"""


def _data(ls) -> dict:
    loss = np.asarray(ls.loss, dtype=float)
    finite = loss[np.isfinite(loss)]
    logscale = finite.size and finite.min() > 0 and finite.max() / finite.min() > 20
    z = np.log10(loss) if logscale else loss
    (mx, my), _ = ls.minimum
    path = getattr(ls, "_path", None)
    return jsonable({"x": ls.x, "y": ls.y, "z": z, "loss": loss, "accuracy": ls.accuracy, "min": [mx, my],
                     "labels": list(ls.axis_labels), "cmap": _VIRIDIS,
                     "zlabel": "log10 loss" if logscale else "loss", "path": path,
                     "origin": ls.direction != "pca"})


def landscape_fragment(ls) -> str:
    payload = json.dumps(_data(ls), separators=(",", ":")).replace("</", "<\\/")
    (_, _), mv = ls.minimum
    note = (f"Loss at the trained weights {ls.center_loss:.4g}; grid minimum {mv:.4g} (star). "
            "Hover the map to read the loss" + (" and accuracy" if ls.accuracy is not None else "") + ".")
    return (f'<div class="ns-landscape"><p style="font-size:13px">{html.escape(note)}</p>'
            f'<div style="display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start">'
            f'<canvas class="ls-map" width="460" height="420" style="border:1px solid #d0d7de"></canvas>'
            f'<canvas class="ls-surface" width="520" height="420" style="border:1px solid #d0d7de;cursor:grab">'
            f'</canvas></div><div class="ls-readout" style="font:13px monospace;min-height:18px;margin-top:6px">'
            f'</div><script type="application/json">{payload}</script></div><script>{_JS}</script>')


def landscape_page(ls) -> str:
    if ls.dims == 1:
        return standalone_page(ls._title(), ls._html_fragment())
    return standalone_page(ls._title(), landscape_fragment(ls))
