"""scikit-learn pipelines converted with skl2onnx and run with onnxruntime, as a user
would write it: a classifier with skl2onnx's default ZipMap output (a list of
{class: probability} dicts), the same without ZipMap, and a regressor. Models are made
locally from synthetic data. Prints one JSON line."""

import json

import numpy as np
import onnxruntime as rt
from skl2onnx import to_onnx
from sklearn.datasets import make_classification, make_regression
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def main() -> None:
    sessions = []
    result = {}
    X, y = make_classification(
        n_samples=300, n_features=6, n_informative=4, n_classes=3, random_state=0
    )
    X = X.astype(np.float32)
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X, y)
    for name, options in (("zipmap", None), ("no_zipmap", {"zipmap": False})):
        onx = to_onnx(clf, X[:1], options=options, target_opset=17)
        sess = rt.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
        sessions.append([type(sess).__module__, getattr(sess, "ortnative_delegation", "-")])
        input_name = sess.get_inputs()[0].name
        labels, probs = sess.run(None, {input_name: X[:20]})
        if isinstance(probs, list):  # ZipMap: a list of {class: probability}
            probs = [sorted(d.items()) for d in probs]
        else:
            probs = probs.tolist()
        result[name] = {
            "labels": labels.tolist(),
            "probabilities": probs,
            "outputs": [(o.name, o.type) for o in sess.get_outputs()],
            "sklearn_agrees": bool((labels == clf.predict(X[:20])).all()),
        }
    Xr, yr = make_regression(n_samples=200, n_features=5, random_state=1)
    Xr = Xr.astype(np.float32)
    reg = make_pipeline(
        StandardScaler(), RandomForestRegressor(n_estimators=10, max_depth=4, random_state=0)
    ).fit(Xr, yr)
    onx = to_onnx(reg, Xr[:1], target_opset=17)
    sess = rt.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
    sessions.append([type(sess).__module__, getattr(sess, "ortnative_delegation", "-")])
    (pred,) = sess.run(None, {sess.get_inputs()[0].name: Xr[:20]})
    result["regressor"] = pred.ravel().tolist()
    # A list feed, as some user code passes it: converted to float32 by onnxruntime.
    (pred_list,) = sess.run(None, {sess.get_inputs()[0].name: Xr[:3].tolist()})
    result["regressor_list_feed"] = pred_list.ravel().tolist()
    print(json.dumps({"result": result, "sessions": sessions}))


if __name__ == "__main__":
    main()
