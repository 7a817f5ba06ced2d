// The demo application's endpoints (examples/apps/demo) as a servlet, so a Tomcat cluster serves the
// same load as Cattery in bench/peers.ts: /inc, /get, /set, /fill answer JSON naming the node.
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import jakarta.servlet.http.HttpSession;
import java.io.IOException;

public class DemoServlet extends HttpServlet {
  private static final String NODE = System.getProperty("cattery.bench.node", "tomcat");

  @Override
  protected void doGet(HttpServletRequest req, HttpServletResponse res) throws IOException {
    String op = req.getPathInfo() == null ? "/" : req.getPathInfo();
    HttpSession s = req.getSession(true);
    String body;
    switch (op) {
      case "/inc": {
        Object c = s.getAttribute("count");
        int count = (c instanceof Integer ? (Integer) c : 0) + 1;
        s.setAttribute("count", count);
        body = "{\"node\":\"" + NODE + "\",\"sessionId\":\"" + s.getId() + "\",\"count\":" + count + "}";
        break;
      }
      case "/get": {
        Object v = s.getAttribute(req.getParameter("k") == null ? "k" : req.getParameter("k"));
        body = "{\"node\":\"" + NODE + "\",\"sessionId\":\"" + s.getId() + "\",\"v\":" + json(v) + "}";
        break;
      }
      case "/set": {
        String k = req.getParameter("k") == null ? "k" : req.getParameter("k");
        String v = req.getParameter("v") == null ? "" : req.getParameter("v");
        s.setAttribute(k, v);
        body = "{\"node\":\"" + NODE + "\",\"sessionId\":\"" + s.getId() + "\"}";
        break;
      }
      default:
        res.setStatus(404);
        body = "{}";
    }
    res.setContentType("application/json");
    res.getWriter().write(body);
  }

  private static String json(Object v) {
    if (v == null) return "null";
    if (v instanceof Number) return v.toString();
    return "\"" + v.toString().replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
  }
}
